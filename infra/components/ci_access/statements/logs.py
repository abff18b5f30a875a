"""CloudWatch Logs: the control plane's log group and the stack's own, by name prefix."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infra.helpers.iam import Statement

if TYPE_CHECKING:
    from infra.components.ci_access.component import CiAccessArgs


def manage(args: CiAccessArgs) -> list[Statement]:
    account, naming = args.account, args.naming
    return [
        {
            "Sid": "ManageLogGroups",
            "Effect": "Allow",
            "Action": "logs:*",
            "Resource": [
                account.arn("logs", f"log-group:{naming.cluster_log_group}*"),
                account.arn("logs", f"log-group:{naming.log_group_prefix}*"),
            ],
        },
        {
            "Sid": "ListLogGroups",
            "Effect": "Allow",
            "Action": "logs:DescribeLogGroups",
            "Resource": "*",
        },
    ]
