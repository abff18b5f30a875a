"""What the scheduler and the cluster autoscaler know of a pool's nodes: labels, taint, tags."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi_aws as aws

from infra.helpers.labels import (
    ACCELERATOR_LABEL,
    DEVICE_PLUGIN_LABEL,
    GPU_RESOURCE,
    NODE_POOL_LABEL,
    WORKLOAD_LABEL,
)
from infra.settings import GpuPool, NodePool

# GPU nodes take only pods that ask for a GPU (they tolerate this taint).
GPU_TAINT = aws.eks.NodeGroupTaintArgs(key=GPU_RESOURCE, value="true", effect="NO_SCHEDULE")
# Tags the cluster autoscaler reads to build a node from an empty (size 0) group.
AUTOSCALER_TEMPLATE = "k8s.io/cluster-autoscaler/node-template"


def pool_labels(pool: NodePool, cost_labels: Mapping[str, str]) -> dict[str, str]:
    """Kubernetes labels of a pool's nodes: cost labels, pool name, workload, accelerator."""
    labels = {**cost_labels, NODE_POOL_LABEL: pool.name}
    if isinstance(pool, GpuPool):
        plugin = "builtin" if pool.ami_type.startswith("BOTTLEROCKET") else "daemonset"
        labels |= {
            WORKLOAD_LABEL: pool.workload_type,
            ACCELERATOR_LABEL: "nvidia",
            DEVICE_PLUGIN_LABEL: plugin,
        }
    else:
        labels[WORKLOAD_LABEL] = "system"
    return labels


def autoscaler_template_tags(pool: NodePool, labels: Mapping[str, str]) -> dict[str, str]:
    """ASG tags that describe a pool's nodes to the cluster autoscaler while the pool is empty."""
    tags = {f"{AUTOSCALER_TEMPLATE}/label/{k}": v for k, v in labels.items()}
    tags[f"{AUTOSCALER_TEMPLATE}/label/eks.amazonaws.com/capacityType"] = pool.capacity_type
    if isinstance(pool, GpuPool):
        tags[f"{AUTOSCALER_TEMPLATE}/taint/{GPU_RESOURCE}"] = "true:NoSchedule"
        tags[f"{AUTOSCALER_TEMPLATE}/resources/{GPU_RESOURCE}"] = str(pool.gpus_per_node)
    return tags
