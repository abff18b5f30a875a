"""Every Helm chart the platform installs, pinned: each `pulumi up` installs the same versions.

Dependabot does not track Helm charts; bump a pin here deliberately (`helm search repo <chart>
--versions`). The cluster autoscaler's chart follows the Kubernetes minor version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class Chart:
    name: str
    version: str
    repo: str

    def release(
        self,
        resource_name: str,
        namespace: pulumi.Input[str],
        values: pulumi.Input[dict[str, Any]],
        opts: pulumi.ResourceOptions,
        **extra: Any,
    ) -> k8s.helm.v3.Release:
        """This pinned chart, released under its own name (the Services' names and the `release`
        label follow it); a failed install rolls back."""
        return k8s.helm.v3.Release(
            resource_name,
            name=self.name,
            chart=self.name,
            version=self.version,
            repository_opts={"repo": self.repo},
            namespace=namespace,
            atomic=True,
            values=values,
            opts=opts,
            **extra,
        )


PROMETHEUS_COMMUNITY = "https://prometheus-community.github.io/helm-charts"
KUBE_PROMETHEUS_STACK = Chart("kube-prometheus-stack", "81.4.5", PROMETHEUS_COMMUNITY)
DCGM_EXPORTER = Chart(
    "dcgm-exporter", "4.7.1", "https://nvidia.github.io/dcgm-exporter/helm-charts"
)
PUSHGATEWAY = Chart("prometheus-pushgateway", "3.2.0", PROMETHEUS_COMMUNITY)
ARGO_ROLLOUTS = Chart("argo-rollouts", "2.40.3", "https://argoproj.github.io/argo-helm")
NVIDIA_DEVICE_PLUGIN = Chart(
    "nvidia-device-plugin", "0.17.1", "https://nvidia.github.io/k8s-device-plugin"
)
AUTOSCALER_CHART_REPO = "https://kubernetes.github.io/autoscaler"
# cluster-autoscaler chart per Kubernetes minor version (the autoscaler must match the cluster).
CLUSTER_AUTOSCALER_CHARTS: dict[str, str] = {"1.32": "9.46.6", "1.33": "9.50.1", "1.34": "9.52.1"}
