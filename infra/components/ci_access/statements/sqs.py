"""SQS: the stack's queues (Karpenter's interruption queue), by name prefix."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infra.helpers.iam import Statement

if TYPE_CHECKING:
    from infra.components.ci_access.component import CiAccessArgs


def manage(args: CiAccessArgs) -> list[Statement]:
    return [
        {
            "Sid": "ManageQueues",
            "Effect": "Allow",
            "Action": "sqs:*",
            "Resource": args.account.arn("sqs", f"{args.naming.prefix}-*"),
        }
    ]
