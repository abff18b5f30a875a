"""Auto Scaling: the cost tags on the Auto Scaling groups EKS makes for the node groups."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infra.helpers.iam import Statement

if TYPE_CHECKING:
    from infra.components.ci_access.component import CiAccessArgs


def manage(args: CiAccessArgs) -> list[Statement]:
    groups = args.account.arn("autoscaling", "autoScalingGroup:*:autoScalingGroupName/eks-*")
    return [
        {
            # The node groups' Auto Scaling groups (made by EKS) carry the cost tags too.
            "Sid": "TagNodeGroups",
            "Effect": "Allow",
            "Action": ["autoscaling:CreateOrUpdateTags", "autoscaling:DeleteTags"],
            "Resource": groups,
            "Condition": {
                "StringEquals": {"aws:ResourceTag/eks:cluster-name": args.naming.cluster}
            },
        },
        {
            "Sid": "DescribeNodeGroups",
            "Effect": "Allow",
            "Action": "autoscaling:Describe*",
            "Resource": "*",
        },
    ]
