"""The specs of the objects around the Rollout: Services, ServiceMonitor, HPA, PDB and
NetworkPolicy."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pulumi_kubernetes as k8s

from infra.components.serving.names import SERVICE_PORT
from infra.helpers.labels import COMPONENT_LABEL, MODEL_VERSION_LABEL, NAME_LABEL, POD_HASH_LABEL


def service_spec(app: str, headless: bool) -> k8s.core.v1.ServiceSpecArgsDict:
    spec: k8s.core.v1.ServiceSpecArgsDict = {
        "type": "ClusterIP",
        "selector": {NAME_LABEL: app},
        "ports": [{"name": "http", "port": SERVICE_PORT, "target_port": "http", "protocol": "TCP"}],
    }
    if headless:
        spec["cluster_ip"] = "None"
    return spec


def service_monitor_spec(app: str, namespace: str) -> dict[str, Any]:
    """Scrape the metrics Service's pods: every pod of every version, once."""
    return {
        "selector": {"matchLabels": {NAME_LABEL: app, COMPONENT_LABEL: "metrics"}},
        "namespaceSelector": {"matchNames": [namespace]},
        # Carried onto the series so the analysis and dashboards can split by version.
        "podTargetLabels": [POD_HASH_LABEL, MODEL_VERSION_LABEL],
        "endpoints": [
            {
                "port": "http",
                "path": "/metrics",
                "interval": "15s",
                # BentoML's own `endpoint` label (the request path) must win over the
                # operator's `endpoint` target label (the port name).
                "honorLabels": True,
            }
        ],
    }


def hpa_spec(
    app: str, min_replicas: int, max_replicas: int, target_cpu_percent: int
) -> k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgsDict:
    """Scale the Rollout on CPU."""
    return {
        "scale_target_ref": {
            "api_version": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "name": app,
        },
        "min_replicas": min_replicas,
        "max_replicas": max_replicas,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "average_utilization": target_cpu_percent},
                },
            }
        ],
    }


def pdb_spec(app: str) -> k8s.policy.v1.PodDisruptionBudgetSpecArgsDict:
    # One pod at a time: node drains proceed, and never take the service down.
    return {"max_unavailable": 1, "selector": {"match_labels": {NAME_LABEL: app}}}


def network_policy_spec(
    app: str, allowed_namespaces: Iterable[str]
) -> k8s.networking.v1.NetworkPolicySpecArgsDict:
    """Ingress to the service port only, from the namespace's own pods and the allowed ones."""
    return {
        "pod_selector": {"match_labels": {NAME_LABEL: app}},
        "policy_types": ["Ingress"],
        "ingress": [
            {
                "ports": [{"port": SERVICE_PORT, "protocol": "TCP"}],
                "from_": [
                    {"pod_selector": {}},
                    *(
                        {
                            "namespace_selector": {
                                "match_labels": {"kubernetes.io/metadata.name": other}
                            }
                        }
                        for other in allowed_namespaces
                    ),
                ],
            }
        ],
    }
