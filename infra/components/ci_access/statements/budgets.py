"""AWS Budgets: the stack's budget (read by every role, managed by the infra role)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi

from infra.helpers.iam import Statement

if TYPE_CHECKING:
    from infra.components.ci_access.component import CiAccessArgs


def _budget(args: CiAccessArgs) -> pulumi.Output[str]:
    return args.account.arn("budgets", f"budget/{args.naming.budget}", regional=False)


def read(args: CiAccessArgs) -> list[Statement]:
    return [
        {
            "Sid": "ReadBudget",
            "Effect": "Allow",
            "Action": "budgets:ViewBudget",
            "Resource": _budget(args),
        }
    ]


def manage(args: CiAccessArgs) -> list[Statement]:
    return [
        {"Sid": "ManageBudget", "Effect": "Allow", "Action": "budgets:*", "Resource": _budget(args)}
    ]
