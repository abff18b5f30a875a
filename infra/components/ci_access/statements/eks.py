"""EKS: the stack's cluster, its node groups, add-ons and access entries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infra.helpers.iam import Statement

if TYPE_CHECKING:
    from infra.components.ci_access.component import CiAccessArgs


def read(args: CiAccessArgs) -> list[Statement]:
    return [
        {
            "Sid": "DescribeCluster",
            "Effect": "Allow",
            "Action": "eks:DescribeCluster",
            "Resource": args.cluster.arn,
        }
    ]


def manage(args: CiAccessArgs) -> list[Statement]:
    account, cluster = args.account, args.naming.cluster
    return [
        {
            "Sid": "ManageCluster",
            "Effect": "Allow",
            "Action": "eks:*",
            "Resource": [
                account.arn("eks", f"cluster/{cluster}"),
                *(account.arn("eks", f"{kind}/{cluster}/*") for kind in ("nodegroup", "addon")),
                account.arn("eks", f"access-entry/{cluster}/*"),
            ],
        },
        {
            "Sid": "LookUpAddons",
            "Effect": "Allow",
            "Action": ["eks:DescribeAddonVersions", "eks:DescribeAddonConfiguration"],
            "Resource": "*",
        },
    ]
