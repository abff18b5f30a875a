"""The checks behind the policy pack, as plain functions of CrossGuard's validation arguments.

Each takes the `args` CrossGuard passes (`ResourceValidationArgs` or `StackValidationArgs`) and
its `report_violation` callback, so tests call them directly with constructed arguments.
Properties arrive as read-only mappings (CrossGuard's proxies), never as dicts: only the
`Mapping`/`Sequence` interfaces are used here.
"""

from infra.policy.validators.buckets import encrypted_private_buckets
from infra.policy.validators.cluster_endpoint import public_endpoint_not_open
from infra.policy.validators.cost_tags import effective_tags, is_taggable, require_cost_tags
from infra.policy.validators.gpu_pools import gpu_nodes_tainted, gpu_pools_scale_to_zero
from infra.policy.validators.iam import no_admin_wildcards, wildcard_statements
from infra.policy.validators.node_pools import (
    admits_gpu_instances,
    node_pools_limited,
    positive_quantity,
)
from infra.policy.validators.registry import scanned_immutable_repositories
from infra.policy.validators.resource_types import (
    ECR_REPOSITORY_TYPE,
    EKS_CLUSTER_TYPE,
    NODE_GROUP_TYPE,
    NODE_POOL_TYPE,
)

__all__ = [
    "ECR_REPOSITORY_TYPE",
    "EKS_CLUSTER_TYPE",
    "NODE_GROUP_TYPE",
    "NODE_POOL_TYPE",
    "admits_gpu_instances",
    "effective_tags",
    "encrypted_private_buckets",
    "gpu_nodes_tainted",
    "gpu_pools_scale_to_zero",
    "is_taggable",
    "no_admin_wildcards",
    "node_pools_limited",
    "positive_quantity",
    "public_endpoint_not_open",
    "require_cost_tags",
    "scanned_immutable_repositories",
    "wildcard_statements",
]
