"""The karpenter chart's values: this cluster and its interruption queue, the IRSA role, and a
small controller on the system pool.

The chart already runs the controller unprivileged (its container: non-root user 65532,
read-only root filesystem, no privilege escalation, every capability dropped; its pod: the
RuntimeDefault seccomp profile), at system-cluster-critical priority, tolerating
CriticalAddonsOnly and kept off the nodes it launches (affinity on `karpenter.sh/nodepool`):
those defaults stay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from infra.helpers.labels import NODE_POOL_LABEL
from infra.settings import SystemPool

SERVICE_ACCOUNT = "karpenter"
# Small: it shares the system nodes with the cluster add-ons and watches a handful of nodes.
CONTROLLER_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "384Mi"},
    "limits": {"memory": "768Mi"},
}


@dataclass(frozen=True)
class ControllerSettings:
    cluster_name: pulumi.Input[str]
    cluster_endpoint: pulumi.Input[str]
    interruption_queue: pulumi.Input[str]
    role_arn: pulumi.Input[str]
    system_pool: SystemPool
    cost_labels: Mapping[str, str]


def replicas(system_pool: SystemPool) -> int:
    """Two for failover, one on a single system node (the chart keeps replicas on different
    nodes, so a second would never schedule there)."""
    return 1 if system_pool.desired_size == 1 else 2


def controller_values(settings: ControllerSettings) -> dict[str, Any]:
    return {
        "settings": {
            "clusterName": settings.cluster_name,
            # Known to the stack: the controller need not look it up at start.
            "clusterEndpoint": settings.cluster_endpoint,
            "interruptionQueue": settings.interruption_queue,
        },
        "serviceAccount": {
            "create": True,
            "name": SERVICE_ACCOUNT,
            "annotations": {"eks.amazonaws.com/role-arn": settings.role_arn},
        },
        "replicas": replicas(settings.system_pool),
        "nodeSelector": {
            "kubernetes.io/os": "linux",
            NODE_POOL_LABEL: settings.system_pool.name,
        },
        "podLabels": dict(settings.cost_labels),
        "additionalLabels": dict(settings.cost_labels),
        "controller": {"resources": CONTROLLER_RESOURCES},
    }
