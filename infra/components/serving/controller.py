"""RolloutsController: the Argo Rollouts controller and its CRDs, from the pinned Helm chart."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.components.serving.args import RolloutsControllerArgs
from infra.components.serving.names import CONTROLLER_TYPE, ROLLOUTS_NAMESPACE
from infra.helpers.charts import ARGO_ROLLOUTS
from infra.helpers.options import dependencies
from ml.core.identity import load_identity


def controller_values(
    environment: str, service_monitor_labels: Mapping[str, str]
) -> dict[str, Any]:
    """The Argo Rollouts chart's values: no dashboard, metrics scraped, cost-labelled pods."""
    cost_labels = load_identity().cost_labels(environment)
    return {
        "installCRDs": True,
        "dashboard": {"enabled": False},
        "controller": {
            "metrics": {
                "enabled": True,
                "serviceMonitor": {
                    "enabled": True,
                    "additionalLabels": dict(service_monitor_labels),
                },
            },
            "podLabels": cost_labels,
            "resources": {
                "requests": {"cpu": "50m", "memory": "128Mi"},
                "limits": {"memory": "256Mi"},
            },
        },
        "global": {"deploymentLabels": cost_labels},
    }


class RolloutsController(pulumi.ComponentResource):
    """The Argo Rollouts controller (and its CRDs), from the pinned Helm chart.

    Separate from the service so the stack has it before a first model is shipped; ModelServing
    depends on it (`opts.depends_on`), with kube-prometheus-stack (the ServiceMonitor CRD). The
    release waits for this component's `opts.depends_on` (the nodes, kube-prometheus-stack).
    """

    def __init__(
        self,
        name: str,
        args: RolloutsControllerArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(CONTROLLER_TYPE, name, None, opts)
        self.release = k8s.helm.v3.Release(
            name,
            chart=ARGO_ROLLOUTS.name,
            version=ARGO_ROLLOUTS.version,
            repository_opts={"repo": ARGO_ROLLOUTS.repo},
            namespace=ROLLOUTS_NAMESPACE,
            create_namespace=True,
            atomic=True,
            values=controller_values(args.environment, args.service_monitor_labels),
            opts=pulumi.ResourceOptions(parent=self, depends_on=dependencies(opts)),
        )
        self.register_outputs({"status": self.release.status})
