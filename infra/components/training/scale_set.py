"""A runner scale set per training pool: the chart's values and the runner pod's template.

Each set registers with the repository under its name and keeps no idle runner (`minRunners:
0`): a queued job makes ARC start one runner pod, which asks for one GPU, so Karpenter starts a
node of the pool for it, and removes the node once the job (and with it the pod) is done. The
pod says `karpenter.sh/do-not-disrupt`, so consolidation never stops a running job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.components.training.args import TrainingRunnersArgs
from infra.components.training.controller import (
    CONTAINER_SECURITY,
    POD_SECURITY,
    system_node_selector,
)
from infra.components.training.names import (
    CONTROLLER_NAMESPACE,
    CONTROLLER_SERVICE_ACCOUNT,
    DO_NOT_DISRUPT,
    GITHUB_APP_SECRET,
    RUNNER_HOME,
    RUNNER_SERVICE_ACCOUNT,
    RUNNER_UID,
    RUNNER_WORK_DIR,
    TRAINING_WORKLOAD,
    WORKLOAD_KEY,
    scale_set_name,
)
from infra.helpers.charts import ARC_SCALE_SET
from infra.helpers.labels import GPU_RESOURCE, NODE_POOL_LABEL, WORKLOAD_LABEL
from infra.settings import GpuNodePool, TrainingSettings

# The container ARC starts the job in must be called `runner`; the listener's `listener`.
RUNNER_CONTAINER = "runner"
LISTENER_CONTAINER = "listener"
LISTENER_RESOURCES = {
    "requests": {"cpu": "25m", "memory": "64Mi"},
    "limits": {"memory": "256Mi"},
}
RUNNER_POD_SECURITY: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": RUNNER_UID,
    "runAsGroup": RUNNER_UID,
    "fsGroup": RUNNER_UID,
    "seccompProfile": {"type": "RuntimeDefault"},
}
# No sudo, no capabilities. The root filesystem stays writable: the runner keeps its
# registration and logs, and the job's tools their caches, under its home; the pod lives for
# one job only.
RUNNER_CONTAINER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": False,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}
# The job's checkout, DVC cache and temporary files: on the node's disk, gone with the pod.
SCRATCH_VOLUMES = {"work": RUNNER_WORK_DIR, "tmp": "/tmp"}  # noqa: S108


def runner_labels(labels: Mapping[str, str]) -> dict[str, str]:
    return {**labels, WORKLOAD_KEY: TRAINING_WORKLOAD}


def runner_resources(settings: TrainingSettings) -> dict[str, Any]:
    """One GPU, and CPU and memory requested as much as allowed (a Guaranteed pod)."""
    amounts = {
        "cpu": f"{settings.runner_cpu_millicores}m",
        "memory": f"{settings.runner_memory_mib}Mi",
        GPU_RESOURCE: 1,
    }
    return {"requests": dict(amounts), "limits": dict(amounts)}


def tolerations(pool: GpuNodePool) -> list[dict[str, str]]:
    """Every taint of the pool (the GPU taint among them) is tolerated."""
    return [
        {"key": t.key, "operator": "Equal", "value": t.value, "effect": t.effect}
        for t in pool.taints
    ]


def runner_container(args: TrainingRunnersArgs) -> dict[str, Any]:
    return {
        "name": RUNNER_CONTAINER,
        "image": args.runner_image,
        "command": [f"{RUNNER_HOME}/run.sh"],
        "env": [
            # The jobs reach S3 with the service account's role, in the stack's region.
            {"name": "AWS_REGION", "value": args.region},
            {"name": "AWS_DEFAULT_REGION", "value": args.region},
        ],
        "resources": runner_resources(args.settings),
        "securityContext": RUNNER_CONTAINER_SECURITY,
        "volumeMounts": [{"name": n, "mountPath": p} for n, p in SCRATCH_VOLUMES.items()],
    }


def runner_pod_template(
    args: TrainingRunnersArgs, pool: GpuNodePool, labels: Mapping[str, str]
) -> dict[str, Any]:
    """The runner pod: one GPU on a node of `pool`, non-root, never disrupted mid-job."""
    return {
        "metadata": {
            "labels": runner_labels(labels),
            "annotations": {DO_NOT_DISRUPT: "true"},
        },
        "spec": {
            "serviceAccountName": RUNNER_SERVICE_ACCOUNT,
            # IRSA's token is projected regardless; the job needs no Kubernetes API token.
            "automountServiceAccountToken": False,
            "securityContext": RUNNER_POD_SECURITY,
            "nodeSelector": {WORKLOAD_LABEL: TRAINING_WORKLOAD, NODE_POOL_LABEL: pool.name},
            "tolerations": tolerations(pool),
            "containers": [runner_container(args)],
            "volumes": [{"name": name, "emptyDir": {}} for name in SCRATCH_VOLUMES],
        },
    }


def listener_template(labels: Mapping[str, str], system_pool: str) -> dict[str, Any]:
    """The listener pod ARC starts per scale set in its own namespace: on the system pool,
    non-root, with resources (ARC merges this into the pod it builds)."""
    return {
        "metadata": {"labels": dict(labels)},
        "spec": {
            "nodeSelector": system_node_selector(system_pool),
            "securityContext": POD_SECURITY,
            "containers": [
                {
                    "name": LISTENER_CONTAINER,
                    "resources": LISTENER_RESOURCES,
                    "securityContext": CONTAINER_SECURITY,
                }
            ],
        },
    }


def scale_set_values(
    args: TrainingRunnersArgs, pool: GpuNodePool, labels: Mapping[str, str]
) -> dict[str, Any]:
    """The gha-runner-scale-set chart's values for `pool`'s scale set."""
    return {
        "githubConfigUrl": args.github_url,
        # The Secret github_app.py declares (a name: the chart creates no Secret of its own).
        "githubConfigSecret": GITHUB_APP_SECRET,
        "runnerScaleSetName": scale_set_name(args.naming, pool.name),
        "minRunners": 0,
        "maxRunners": pool.max_runners,
        # Explicit, so the chart needs no lookup of the controller's Deployment.
        "controllerServiceAccount": {
            "namespace": CONTROLLER_NAMESPACE,
            "name": CONTROLLER_SERVICE_ACCOUNT,
        },
        "labels": dict(labels),
        "listenerTemplate": listener_template(labels, args.system_pool),
        "template": runner_pod_template(args, pool, labels),
    }


def scale_set_release(
    name: str,
    args: TrainingRunnersArgs,
    pool: GpuNodePool,
    labels: Mapping[str, str],
    *,
    parent: pulumi.Resource,
    after: Sequence[pulumi.Resource],
) -> k8s.helm.v3.Release:
    """The pool's scale set, released under its name in the runners' namespace."""
    return ARC_SCALE_SET.release(
        f"{name}-{pool.name}",
        args.settings.namespace,
        scale_set_values(args, pool, labels),
        pulumi.ResourceOptions(parent=parent, depends_on=list(after)),
        release_name=scale_set_name(args.naming, pool.name),
    )
