"""Helm values of the three monitoring charts, Alertmanager's routing, and pod placement/sizes."""

from __future__ import annotations

from typing import Any

import pulumi

from infra.components.monitoring.args import MonitoringArgs
from infra.components.monitoring.names import (
    ALERTMANAGER_SERVICE_ACCOUNT,
    DASHBOARD_LABEL,
    GRAFANA_PASSWORD_KEY,
    GRAFANA_SECRET,
    GRAFANA_USER_KEY,
    SERVICE_MONITOR_LABELS,
)
from infra.helpers.labels import GPU_RESOURCE, MODEL_VERSION_LABEL, NAME_LABEL, NODE_POOL_LABEL
from ml.core.identity import load_identity


def _off_gpu_affinity(args: MonitoringArgs) -> dict[str, Any]:
    # NotIn also matches nodes without the label: any node but a GPU one.
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": key, "operator": "NotIn", "values": [value]}
                            for key, value in sorted(args.gpu_node_selector.items())
                        ]
                    }
                ]
            }
        }
    }


def placement(args: MonitoringArgs) -> dict[str, Any]:
    """On the system nodes (when the stack names them) and never on a GPU node."""
    return {"affinity": _off_gpu_affinity(args), "nodeSelector": dict(args.system_node_selector)}


def resources(cpu: str, memory: str, memory_limit: str | None = None) -> dict[str, Any]:
    """Requests, and a memory limit only."""
    # No CPU limit: throttling a scraper loses samples; memory is capped at what it asks for.
    return {
        "requests": {"cpu": cpu, "memory": memory},
        "limits": {"memory": memory_limit or memory},
    }


def alertmanager_config(topic_arn: pulumi.Input[str], region: str) -> dict[str, Any]:
    """Every alert to the SNS topic (signed with the pod's IRSA credentials), except the chart's
    always-firing heartbeats. Keys left out (inhibit rules, templates) keep the chart's defaults.
    """
    return {
        "route": {
            "receiver": "sns",
            "group_by": ["alertname", "namespace"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "12h",
            "routes": [
                {"receiver": "null", "matchers": [f'alertname = "{name}"']}
                for name in ("Watchdog", "InfoInhibitor")
            ],
        },
        "receivers": [
            {"name": "null"},
            {
                "name": "sns",
                "sns_configs": [
                    {"topic_arn": topic_arn, "sigv4": {"region": region}, "send_resolved": True}
                ],
            },
        ],
    }


def _prometheus_spec(args: MonitoringArgs) -> dict[str, Any]:
    settings = args.settings
    memory = f"{settings.prometheus_memory_mib}Mi"
    return {
        "retention": settings.retention,
        # Drop the oldest blocks before the volume fills, whatever the retention says.
        "retentionSize": f"{int(settings.storage_gib * 0.85)}GB",
        "storageSpec": {
            "volumeClaimTemplate": {
                "spec": {
                    "storageClassName": args.storage_class,
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": f"{settings.storage_gib}Gi"}},
                }
            }
        },
        "resources": resources(f"{settings.prometheus_cpu_millicores}m", memory, memory),
        # Select every ServiceMonitor, PodMonitor and PrometheusRule in the cluster,
        # not only those labelled with this release.
        "ruleSelectorNilUsesHelmValues": False,
        "serviceMonitorSelectorNilUsesHelmValues": False,
        "podMonitorSelectorNilUsesHelmValues": False,
        "probeSelectorNilUsesHelmValues": False,
        **placement(args),
    }


def kube_prometheus_stack_values(
    args: MonitoringArgs,
    alertmanager: dict[str, Any],
    alertmanager_role_arn: pulumi.Input[str],
) -> dict[str, Any]:
    """The chart's values: sized, persistent, off the GPU nodes, selecting every rule/monitor."""
    on_system_nodes = placement(args)
    return {
        "commonLabels": load_identity().cost_labels(args.environment),
        "crds": {"enabled": True},
        # ModelHpaAtMaxReplicas (rules/model-service.yaml) replaces it; one page per event.
        "defaultRules": {"disabled": {"KubeHpaMaxedOut": True}},
        "prometheus": {"prometheusSpec": _prometheus_spec(args)},
        "alertmanager": {
            "serviceAccount": {
                "create": True,
                "name": ALERTMANAGER_SERVICE_ACCOUNT,
                "annotations": {"eks.amazonaws.com/role-arn": alertmanager_role_arn},
            },
            "config": alertmanager,
            "alertmanagerSpec": {
                "resources": resources("20m", "64Mi", "128Mi"),
                **on_system_nodes,
            },
        },
        "grafana": {
            "admin": {
                "existingSecret": GRAFANA_SECRET,
                "userKey": GRAFANA_USER_KEY,
                "passwordKey": GRAFANA_PASSWORD_KEY,
            },
            "sidecar": {
                "dashboards": {"enabled": True, "label": DASHBOARD_LABEL, "labelValue": "1"}
            },
            "resources": resources("50m", "256Mi", "512Mi"),
            **on_system_nodes,
        },
        "prometheusOperator": {"resources": resources("50m", "128Mi", "256Mi"), **on_system_nodes},
        "kube-state-metrics": {
            # Labels the rules and the dashboard join on: model pods' version, GPU nodes' pool.
            "metricLabelsAllowlist": [
                f"pods=[{MODEL_VERSION_LABEL},{NAME_LABEL}]",
                f"nodes=[{NODE_POOL_LABEL},{','.join(sorted(args.gpu_node_selector))}]",
            ],
            "resources": resources("20m", "64Mi", "256Mi"),
            **on_system_nodes,
        },
        # A DaemonSet on every node, GPU nodes included (it tolerates every taint).
        "prometheus-node-exporter": {"resources": resources("20m", "32Mi", "64Mi")},
    }


def pushgateway_values(args: MonitoringArgs) -> dict[str, Any]:
    """One small Pushgateway on the system nodes, scraped with the pushed labels kept."""
    labels = load_identity().cost_labels(args.environment)
    return {
        "podLabels": labels,
        "serviceLabels": labels,
        "serviceMonitor": {
            "enabled": True,
            "namespace": args.namespace,
            # The pushed `job` and grouping labels win over the scrape target's.
            "honorLabels": True,
            "additionalLabels": {**labels, **SERVICE_MONITOR_LABELS},
        },
        "resources": resources("10m", "32Mi", "64Mi"),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "fsGroup": 65534,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containerSecurityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        **placement(args),
    }


def dcgm_exporter_values(args: MonitoringArgs) -> dict[str, Any]:
    """On the GPU nodes only; this component's own ServiceMonitor scrapes it."""
    return {
        "nodeSelector": dict(args.gpu_node_selector),
        "tolerations": [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}],
        "serviceMonitor": {"enabled": False},
        "resources": resources("50m", "256Mi", "1Gi"),
        "podLabels": load_identity().cost_labels(args.environment),
    }
