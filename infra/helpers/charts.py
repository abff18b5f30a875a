"""Every Helm chart the platform installs, pinned: each `pulumi up` installs the same versions.

Dependabot does not track Helm charts; bump a pin here deliberately (`helm search repo <chart>
--versions`, or `helm show chart oci://...` for OCI charts). Karpenter's chart names the
Kubernetes minor versions it supports; the cluster's version must be one of them.
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
        *,
        release_name: str | None = None,
        **extra: Any,
    ) -> k8s.helm.v3.Release:
        """This pinned chart, released under its own name unless given one (the Services' names
        and the `release` label follow it); a failed install rolls back."""
        # OCI registries hold charts by reference; classic repositories by name in an index.
        oci = self.repo.startswith("oci://")
        return k8s.helm.v3.Release(
            resource_name,
            name=release_name or self.name,
            chart=f"{self.repo}/{self.name}" if oci else self.name,
            version=self.version,
            repository_opts=None if oci else {"repo": self.repo},
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
# Karpenter: its CRDs as a release of their own, installed before the controller and any
# NodePool (custom resources in the same `pulumi up` as the chart that brings their CRDs fail
# on a new cluster).
KARPENTER_REPO = "oci://public.ecr.aws/karpenter"
KARPENTER = Chart("karpenter", "1.14.1", KARPENTER_REPO)
KARPENTER_CRD = Chart("karpenter-crd", "1.14.1", KARPENTER_REPO)
# The Kubernetes minor versions Karpenter 1.14 supports (its compatibility matrix).
KUBERNETES_VERSIONS = ("1.32", "1.33", "1.34")
# GitHub's Actions Runner Controller and one runner scale set per training pool.
ARC_REPO = "oci://ghcr.io/actions/actions-runner-controller-charts"
ARC_CONTROLLER = Chart("gha-runner-scale-set-controller", "0.14.2", ARC_REPO)
ARC_SCALE_SET = Chart("gha-runner-scale-set", "0.14.2", ARC_REPO)
