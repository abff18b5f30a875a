"""GitHub's Actions Runner Controller, from its pinned chart: one controller for every scale set.

It runs on the system pool, as the distroless image's non-root user, and watches the runners'
namespace only (Roles there and in its own namespace instead of ClusterRoles). Helm installs
the chart's CRDs on the first install and never upgrades them: bumping ARC_CONTROLLER means
applying the new version's CRDs first (the chart's `crds/` directory).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.components.training.names import (
    CONTROLLER_NAMESPACE,
    CONTROLLER_RELEASE,
    CONTROLLER_SERVICE_ACCOUNT,
    CONTROLLER_UID,
)
from infra.helpers.charts import ARC_CONTROLLER
from infra.helpers.labels import NODE_POOL_LABEL

# The controller and the listeners: read-only root filesystem, no privileges, seccomp on.
POD_SECURITY: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": CONTROLLER_UID,
    "runAsGroup": CONTROLLER_UID,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}
CONTROLLER_RESOURCES = {
    "requests": {"cpu": "50m", "memory": "128Mi"},
    "limits": {"memory": "512Mi"},
}


def system_node_selector(system_pool: str) -> dict[str, str]:
    return {NODE_POOL_LABEL: system_pool, "kubernetes.io/os": "linux"}


def controller_values(
    labels: Mapping[str, str], system_pool: str, runner_namespace: str
) -> dict[str, Any]:
    """The gha-runner-scale-set-controller chart's values."""
    return {
        "replicaCount": 1,
        "labels": dict(labels),
        "podLabels": dict(labels),
        "serviceAccount": {"create": True, "name": CONTROLLER_SERVICE_ACCOUNT},
        "podSecurityContext": POD_SECURITY,
        "securityContext": CONTAINER_SECURITY,
        "resources": CONTROLLER_RESOURCES,
        "nodeSelector": system_node_selector(system_pool),
        "flags": {
            "logLevel": "info",
            "logFormat": "json",
            "watchSingleNamespace": runner_namespace,
        },
    }


def controller_release(
    name: str,
    labels: Mapping[str, str],
    system_pool: str,
    runner_namespace: str,
    *,
    parent: pulumi.Resource,
    after: Sequence[pulumi.Resource],
) -> k8s.helm.v3.Release:
    """The controller's release in its namespace; it waits for `after` (the namespaces)."""
    return ARC_CONTROLLER.release(
        f"{name}-controller",
        CONTROLLER_NAMESPACE,
        controller_values(labels, system_pool, runner_namespace),
        pulumi.ResourceOptions(parent=parent, depends_on=list(after)),
        release_name=CONTROLLER_RELEASE,
    )
