"""GPU node pools scale to zero when idle (advisory)."""

from __future__ import annotations

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
)

from infra.policy.validators.properties import get as _get
from infra.policy.validators.resource_types import (
    NODE_GROUP_TYPE,
)
from infra.settings import is_gpu_pool


def gpu_pools_scale_to_zero(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """GPU node groups may shrink to no node, so an idle stack pays nothing for GPUs."""
    if args.resource_type != NODE_GROUP_TYPE or not is_gpu_pool(args.props):
        return
    scaling = _get(args.props, "scalingConfig") or {}
    minimum = _get(scaling, "minSize")
    if minimum not in (None, 0):
        report_violation(
            f"GPU node group keeps {minimum:g} node(s) running when idle: set minSize to 0 and "
            "let the cluster autoscaler add nodes when GPU pods wait",
            None,
        )
