"""GPU nodes: tainted so only GPU pods land on them (mandatory), and managed node groups of GPUs
scaled to zero when idle (advisory; Karpenter's NodePools start from no node anyway)."""

from __future__ import annotations

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
)
from pulumi_policy.proxy import UnknownValueError

from infra.helpers.labels import GPU_RESOURCE
from infra.policy.validators.node_pools import read_node_pool
from infra.policy.validators.properties import get as _get
from infra.policy.validators.resource_types import (
    NODE_GROUP_TYPE,
    NODE_POOL_TYPE,
)
from infra.settings.catalogue import is_gpu_pool

# EKS spells the effects of a node group's taints in capitals.
_NODE_GROUP_KEEP_OFF = frozenset({"NO_SCHEDULE", "NO_EXECUTE"})
_TAINT_ADVICE = (
    f"add the taint {GPU_RESOURCE}=true:NoSchedule, so that pods which do not ask for a GPU "
    "(and tolerate it) stay off nodes billed for one"
)


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
            f"GPU node group keeps {minimum:g} node(s) running when idle: set minSize to 0, or "
            "declare the GPUs as a Karpenter NodePool, which adds nodes only while GPU pods wait",
            None,
        )


def _node_group_of_gpus_untainted(args: ResourceValidationArgs) -> bool:
    # The instance types and AMI say whether it is a GPU group; the taint is what is checked.
    try:
        facts = {key: _get(args.props, key) for key in ("instanceTypes", "amiType")}
        if not is_gpu_pool(facts):
            return False
        taints = _get(args.props, "taints") or ()
        return not any(
            t.get("key") == GPU_RESOURCE and t.get("effect") in _NODE_GROUP_KEEP_OFF for t in taints
        )
    except UnknownValueError:
        return False  # judged on the update, once known


def gpu_nodes_tainted(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """GPU managed node groups, and NodePools that may launch GPU instances, taint the nodes."""
    if args.resource_type == NODE_GROUP_TYPE and _node_group_of_gpus_untainted(args):
        report_violation(f"GPU node group is not tainted: {_TAINT_ADVICE}", None)
    if args.resource_type != NODE_POOL_TYPE:
        return
    pool = read_node_pool(args.props)
    if pool is not None and pool.allows_gpus and not pool.gpu_tainted:
        report_violation(
            "NodePool may launch GPU instances (its requirements admit an NVIDIA family) but "
            f"spec.template.spec.taints lacks {GPU_RESOURCE}: {_TAINT_ADVICE}; or restrict its "
            "requirements to CPU instances",
            None,
        )
