"""What the scheduler knows of a pool's nodes: their labels, for the system managed node group
and for the GPU NodePools Karpenter launches alike."""

from __future__ import annotations

from collections.abc import Mapping

from infra.helpers.labels import (
    ACCELERATOR_LABEL,
    DEVICE_PLUGIN_LABEL,
    NODE_POOL_LABEL,
    WORKLOAD_LABEL,
)
from infra.settings import GpuNodePool, NodePool

SYSTEM_WORKLOAD = "system"


def device_plugin_mode(pool: GpuNodePool) -> str:
    """How the pool's nodes get the NVIDIA device plugin: AL2023 needs the DaemonSet,
    Bottlerocket's NVIDIA variant ships it built in."""
    return "builtin" if pool.ami_family == "Bottlerocket" else "daemonset"


def pool_labels(pool: NodePool | GpuNodePool, cost_labels: Mapping[str, str]) -> dict[str, str]:
    """Kubernetes labels of a pool's nodes: cost labels, pool name, workload, accelerator."""
    labels = {**cost_labels, NODE_POOL_LABEL: pool.name}
    if isinstance(pool, GpuNodePool):
        labels |= {
            WORKLOAD_LABEL: pool.workload_type,
            ACCELERATOR_LABEL: "nvidia",
            DEVICE_PLUGIN_LABEL: device_plugin_mode(pool),
        }
    else:
        labels[WORKLOAD_LABEL] = SYSTEM_WORKLOAD
    return labels
