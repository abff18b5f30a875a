"""NodePools: the GPU capacity of cluster.nodePools, which Karpenter starts when a pod asks for a
GPU and removes once it is idle.

Each pool admits only its NVIDIA families and sizes (amd64 Linux, spot and/or on-demand), taints
its nodes so only GPU pods land, labels them as the cluster's pools are labelled (cost labels,
`node-pool`, `workload-type`, `accelerator`, `nvidia-device-plugin`), never grows past its limits
and says when Karpenter may take nodes away. A pod annotated `karpenter.sh/do-not-disrupt` (a
training run) keeps its node until it ends: no budget, consolidation or expiry evicts it (the
pools set no terminationGracePeriod that would force it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.components.cluster import pool_labels
from infra.components.karpenter.node_classes import (
    NODE_CLASS_GROUP,
    NODE_CLASS_KIND,
    node_class_name,
)
from infra.helpers.labels import GPU_RESOURCE
from infra.settings import GpuNodePool

NODE_POOL_API = "karpenter.sh/v1"
NODE_POOL_KIND = "NodePool"
# Well-known labels Karpenter gives every instance type, which requirements select on.
CATEGORY_LABEL = f"{NODE_CLASS_GROUP}/instance-category"
FAMILY_LABEL = f"{NODE_CLASS_GROUP}/instance-family"
SIZE_LABEL = f"{NODE_CLASS_GROUP}/instance-size"
GENERATION_LABEL = f"{NODE_CLASS_GROUP}/instance-generation"
CAPACITY_TYPE_LABEL = "karpenter.sh/capacity-type"
ARCH_LABEL = "kubernetes.io/arch"
OS_LABEL = "kubernetes.io/os"
# `g4dn` -> category g, generation 4; `gr6` -> gr, 6; `p4de` -> p, 4.
_FAMILY = re.compile(r"^(?P<category>[a-z]+)(?P<generation>\d+)")


def family_parts(family: str) -> tuple[str, str]:
    """The instance category and generation of an instance family."""
    match = _FAMILY.match(family)
    if match is None:
        raise ValueError(f"{family!r} is not an EC2 instance family")
    return match["category"], match["generation"]


def _within(key: str, values: Sequence[str]) -> dict[str, Any]:
    return {"key": key, "operator": "In", "values": list(values)}


def requirements(pool: GpuNodePool) -> list[dict[str, Any]]:
    """The instance types the pool may launch: its families x sizes, amd64 Linux, its capacity."""
    parts = [family_parts(f) for f in pool.instance_families]
    return [
        _within(CATEGORY_LABEL, sorted({category for category, _ in parts})),
        _within(FAMILY_LABEL, pool.instance_families),
        _within(SIZE_LABEL, pool.instance_sizes),
        _within(GENERATION_LABEL, sorted({generation for _, generation in parts}, key=int)),
        _within(CAPACITY_TYPE_LABEL, pool.capacity_types),
        # The NVIDIA AMIs here are x86_64 (no Arm g5g).
        _within(ARCH_LABEL, ["amd64"]),
        _within(OS_LABEL, ["linux"]),
    ]


def limits(pool: GpuNodePool) -> dict[str, str]:
    """The most the pool's nodes may add up to, as Kubernetes quantities."""
    return {
        GPU_RESOURCE: str(pool.limits.gpus),
        "cpu": str(pool.limits.cpu),
        "memory": f"{pool.limits.memory_gib}Gi",
    }


def disruption(pool: GpuNodePool) -> dict[str, Any]:
    settings = pool.disruption
    return {
        "consolidationPolicy": settings.consolidation_policy,
        "consolidateAfter": settings.consolidate_after,
        "budgets": [{"nodes": settings.budget}],
    }


def node_pool_spec(pool: GpuNodePool, cost_labels: Mapping[str, str]) -> dict[str, Any]:
    return {
        "template": {
            "metadata": {"labels": pool_labels(pool, cost_labels)},
            "spec": {
                "nodeClassRef": {
                    "group": NODE_CLASS_GROUP,
                    "kind": NODE_CLASS_KIND,
                    "name": node_class_name(pool.ami_family),
                },
                "taints": [taint.model_dump() for taint in pool.taints],
                "requirements": requirements(pool),
                "expireAfter": pool.disruption.expire_after,
            },
        },
        "limits": limits(pool),
        "disruption": disruption(pool),
        "weight": pool.weight,
    }


def declare_node_pools(
    pools: Sequence[GpuNodePool],
    *,
    cost_labels: Mapping[str, str],
    kubernetes: k8s.Provider,
    after: Sequence[pulumi.Resource],
    parent: pulumi.Resource,
) -> dict[str, k8s.apiextensions.CustomResource]:
    """One NodePool per pool, once its CRD, the controller and its node class exist."""
    return {
        pool.name: k8s.apiextensions.CustomResource(
            pool.name,
            api_version=NODE_POOL_API,
            kind=NODE_POOL_KIND,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=pool.name, labels=dict(cost_labels)),
            spec=node_pool_spec(pool, cost_labels),
            opts=pulumi.ResourceOptions(parent=parent, provider=kubernetes, depends_on=list(after)),
        )
        for pool in pools
    }
