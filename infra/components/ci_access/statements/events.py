"""EventBridge: the stack's rules (spot interruptions and AWS Health events into Karpenter's
queue), by name prefix, on the default event bus."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infra.helpers.iam import Statement

if TYPE_CHECKING:
    from infra.components.ci_access.component import CiAccessArgs


def manage(args: CiAccessArgs) -> list[Statement]:
    return [
        {
            "Sid": "ManageEventRules",
            "Effect": "Allow",
            "Action": "events:*",
            "Resource": args.account.arn("events", f"rule/{args.naming.prefix}-*"),
        }
    ]
