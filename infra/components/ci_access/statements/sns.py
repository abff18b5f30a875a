"""SNS: the stack's topics (alerts, budget alerts), by name prefix."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infra.helpers.iam import Statement

if TYPE_CHECKING:
    from infra.components.ci_access.component import CiAccessArgs


def manage(args: CiAccessArgs) -> list[Statement]:
    return [
        {
            "Sid": "ManageTopics",
            "Effect": "Allow",
            "Action": "sns:*",
            "Resource": args.account.arn("sns", f"{args.naming.prefix}-*"),
        }
    ]
