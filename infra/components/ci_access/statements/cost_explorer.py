"""Cost Explorer: switching the account's cost allocation tags on (when the stack may)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infra.helpers.iam import Statement

if TYPE_CHECKING:
    from infra.components.ci_access.component import CiAccessArgs


def manage(args: CiAccessArgs) -> list[Statement]:
    """Only for the stack that activates the tags (they are account-wide settings)."""
    if not args.activate_cost_tags:
        return []
    return [
        {
            # Cost allocation tags are account-wide settings without an ARN.
            "Sid": "ActivateCostTags",
            "Effect": "Allow",
            "Action": ["ce:UpdateCostAllocationTagsStatus", "ce:ListCostAllocationTags"],
            "Resource": "*",
        }
    ]
