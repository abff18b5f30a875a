"""The NVIDIA device plugin: a pinned Helm release for AL2023 GPU nodes (Bottlerocket's NVIDIA
AMIs ship it built in)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.components.cluster.addons import SYSTEM_NAMESPACE
from infra.helpers.charts import NVIDIA_DEVICE_PLUGIN
from infra.helpers.labels import ACCELERATOR_LABEL, DEVICE_PLUGIN_LABEL, GPU_RESOURCE
from infra.helpers.options import dependencies, renamed


@dataclass(frozen=True)
class DevicePluginArgs:
    kubernetes: k8s.Provider


class NvidiaDevicePlugin(pulumi.ComponentResource):
    """The NVIDIA device plugin DaemonSet, on AL2023 GPU nodes only (tolerating their taint).

    The release waits for `opts.depends_on` (the system nodes).
    """

    def __init__(
        self, name: str, args: DevicePluginArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        after = dependencies(opts)
        opts = renamed(opts, "mlops:infra:NvidiaDevicePlugin")
        super().__init__("mlops:cluster:NvidiaDevicePlugin", name, None, opts)
        self.release = k8s.helm.v3.Release(
            name,
            name=name,
            chart=NVIDIA_DEVICE_PLUGIN.name,
            version=NVIDIA_DEVICE_PLUGIN.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=NVIDIA_DEVICE_PLUGIN.repo),
            namespace=SYSTEM_NAMESPACE,
            values=device_plugin_values(),
            opts=pulumi.ResourceOptions(parent=self, provider=args.kubernetes, depends_on=after),
        )
        self.register_outputs({})


def device_plugin_values() -> dict[str, Any]:
    """The chart's values: on GPU nodes that need the DaemonSet, tolerating their taint."""
    # Replaces the chart's default affinity, which expects labels from Node Feature Discovery.
    on_gpu_nodes = [
        {"key": ACCELERATOR_LABEL, "operator": "In", "values": ["nvidia"]},
        {"key": DEVICE_PLUGIN_LABEL, "operator": "In", "values": ["daemonset"]},
    ]
    return {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": on_gpu_nodes}]
                }
            }
        },
        "tolerations": [
            {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"},
            {"key": "CriticalAddonsOnly", "operator": "Exists"},
        ],
        "priorityClassName": "system-node-critical",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }
