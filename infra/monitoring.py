"""Metrics and alerts: kube-prometheus-stack, NVIDIA's DCGM exporter, our rules and dashboards.

The alert rules and the dashboard are plain files in infra/monitoring/ that promtool and Grafana
read as they are; this component ships them as PrometheusRule objects and ConfigMaps. A stack's
thresholds replace only the `mlops:threshold:<name>` recording rules (constants the alerts
compare against), so the files in the repo keep the defaults and stay checkable without Pulumi.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from infra.cluster import ACCELERATOR_LABEL, GPU_RESOURCE, NODE_POOL_LABEL
from infra.serving import COMPONENT_LABEL, MODEL_VERSION_LABEL, NAME_LABEL, POD_HASH_LABEL
from ml.identity import LabelValue, load_identity

MONITORING_DIR = Path(__file__).resolve().parent / "monitoring"
RULES_DIR = MONITORING_DIR / "rules"
DASHBOARDS_DIR = MONITORING_DIR / "dashboards"


@dataclass(frozen=True)
class Chart:
    name: str
    version: str
    repo: str


# Pinned: every `pulumi up` installs the same versions; bump them deliberately.
KUBE_PROMETHEUS_STACK = Chart(
    "kube-prometheus-stack", "81.4.5", "https://prometheus-community.github.io/helm-charts"
)
DCGM_EXPORTER = Chart(
    "dcgm-exporter", "4.7.1", "https://nvidia.github.io/dcgm-exporter/helm-charts"
)

# The release name fixes the chart's object names (the Prometheus Service below) and the
# `release` label its default selectors match.
STACK_RELEASE = KUBE_PROMETHEUS_STACK.name
DCGM_RELEASE = DCGM_EXPORTER.name
PROMETHEUS_PORT = 9090
THRESHOLD_PREFIX = "mlops:threshold:"
_THRESHOLD_EXPR = re.compile(r"^\s*vector\(\s*([0-9.eE+-]+)\s*\)\s*$")
DASHBOARD_LABEL = "grafana_dashboard"
GRAFANA_USER_KEY = "admin-user"
GRAFANA_PASSWORD_KEY = "admin-password"  # noqa: S105 (a key name in the Secret)

DnsLabel = Annotated[str, Field(pattern=r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")]


class MonitoringError(ValueError):
    """A threshold or rule file is wrong; the message names the key or the file."""


def load_rule_files() -> dict[str, dict[str, Any]]:
    """Every rule file in infra/monitoring/rules, parsed, by file stem."""
    return {
        path.stem: yaml.safe_load(path.read_text(encoding="utf-8"))
        for path in sorted(RULES_DIR.glob("*.yaml"))
    }


def _threshold_rules(files: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        rule
        for document in files.values()
        for group in document["groups"]
        for rule in group["rules"]
        if str(rule.get("record", "")).startswith(THRESHOLD_PREFIX)
    ]


@cache
def default_thresholds() -> dict[str, float]:
    """The thresholds the rule files hold, by name (`error_ratio`, ...)."""
    defaults: dict[str, float] = {}
    for rule in _threshold_rules(load_rule_files()):
        match = _THRESHOLD_EXPR.match(rule["expr"])
        if match is None:
            raise MonitoringError(f"{rule['record']}: expr must be vector(<number>)")
        defaults[rule["record"].removeprefix(THRESHOLD_PREFIX)] = float(match.group(1))
    return defaults


def _bounds(name: str) -> tuple[float, float]:
    # Names say their unit: ratios and shares are fractions, percentages are 0-100.
    if name.endswith(("_ratio", "_share")):
        return 0.0, 1.0
    if name.endswith("_percent"):
        return 0.0, 100.0
    return 0.0, math.inf


def check_thresholds(overrides: dict[str, float]) -> dict[str, float]:
    """The overrides, checked against the names the rule files define and each one's range."""
    known = default_thresholds()
    for name, value in overrides.items():
        key = f"monitoring.alertThresholds.{name}"
        if name not in known:
            raise MonitoringError(f"{key}: no such threshold; known: {', '.join(sorted(known))}")
        low, high = _bounds(name)
        if not (math.isfinite(value) and low < value <= high):
            raise MonitoringError(f"{key}: must be in ({low:g}, {high:g}], got {value!r}")
    return dict(overrides)


def render_rules(overrides: dict[str, float], runbook_base: str) -> dict[str, dict[str, Any]]:
    """The rule files with the stack's thresholds and a clickable `runbook_url` on each alert."""
    check_thresholds(overrides)
    files = copy.deepcopy(load_rule_files())
    for rule in _threshold_rules(files):
        name = rule["record"].removeprefix(THRESHOLD_PREFIX)
        if name in overrides:
            rule["expr"] = f"vector({float(overrides[name])!r})"
    for document in files.values():
        for group in document["groups"]:
            for rule in group["rules"]:
                annotations = rule.get("annotations", {})
                if "runbook" in annotations:
                    annotations["runbook_url"] = f"{runbook_base}/{annotations['runbook']}"
    return files


def load_dashboards() -> dict[str, str]:
    """Every Grafana dashboard in infra/monitoring/dashboards, as text, by file stem."""
    return {
        path.stem: path.read_text(encoding="utf-8")
        for path in sorted(DASHBOARDS_DIR.glob("*.json"))
    }


class MonitoringArgs(BaseModel):
    """What the stack's config decides about monitoring; plain values, validated on creation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    environment: LabelValue
    namespace: DnsLabel = "monitoring"
    # How long Prometheus keeps samples, and the gp3 volume it keeps them on.
    retention: Annotated[str, Field(pattern=r"^[1-9][0-9]*(h|d|w|y)$")] = "15d"
    storage_gib: Annotated[int, Field(ge=5, le=16_384)] = 50
    storage_class: DnsLabel = "gp3"
    prometheus_cpu_millicores: Annotated[int, Field(ge=100, le=64_000)] = 500
    prometheus_memory_mib: Annotated[int, Field(ge=512, le=262_144)] = 2048
    alert_thresholds: dict[str, float] = Field(default_factory=dict)
    # The DCGM exporter runs only where these labels are (the GPU pools) and tolerates their
    # taint; everything else in this component keeps off those nodes.
    gpu_metrics: bool = True
    gpu_node_selector: dict[str, str] = Field(default_factory=lambda: {ACCELERATOR_LABEL: "nvidia"})
    system_node_selector: dict[str, str] = Field(default_factory=dict)
    # The model's metrics Service (labels app.kubernetes.io/name=<model_name> and
    # app.kubernetes.io/component=metrics). The serving component ships its own ServiceMonitor;
    # turn this on only for a service deployed without one, or series are scraped twice.
    model_name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,40}[a-z0-9]$")]
    model_namespace: DnsLabel = "serving"
    model_service_monitor: bool = False

    @field_validator("alert_thresholds")
    @classmethod
    def _known_thresholds(cls, value: dict[str, float]) -> dict[str, float]:
        return check_thresholds(value)


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


def _placement(args: MonitoringArgs) -> dict[str, Any]:
    return {"affinity": _off_gpu_affinity(args), "nodeSelector": dict(args.system_node_selector)}


def _resources(cpu: str, memory: str, memory_limit: str | None = None) -> dict[str, Any]:
    # No CPU limit: throttling a scraper loses samples; memory is capped at what it asks for.
    return {
        "requests": {"cpu": cpu, "memory": memory},
        "limits": {"memory": memory_limit or memory},
    }


def kube_prometheus_stack_values(args: MonitoringArgs, grafana_secret: str) -> dict[str, Any]:
    """The chart's values: sized, persistent, off the GPU nodes, selecting every rule/monitor."""
    placement = _placement(args)
    prometheus_memory = f"{args.prometheus_memory_mib}Mi"
    return {
        "commonLabels": load_identity().cost_labels(args.environment),
        "crds": {"enabled": True},
        # ModelHpaAtMaxReplicas (rules/model-service.yaml) replaces it; one page per event.
        "defaultRules": {"disabled": {"KubeHpaMaxedOut": True}},
        "prometheus": {
            "prometheusSpec": {
                "retention": args.retention,
                # Drop the oldest blocks before the volume fills, whatever the retention says.
                "retentionSize": f"{int(args.storage_gib * 0.85)}GB",
                "storageSpec": {
                    "volumeClaimTemplate": {
                        "spec": {
                            "storageClassName": args.storage_class,
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": f"{args.storage_gib}Gi"}},
                        }
                    }
                },
                "resources": _resources(
                    f"{args.prometheus_cpu_millicores}m", prometheus_memory, prometheus_memory
                ),
                # Select every ServiceMonitor, PodMonitor and PrometheusRule in the cluster,
                # not only those labelled with this release.
                "ruleSelectorNilUsesHelmValues": False,
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "probeSelectorNilUsesHelmValues": False,
                **placement,
            }
        },
        "alertmanager": {
            "alertmanagerSpec": {"resources": _resources("20m", "64Mi", "128Mi"), **placement}
        },
        "grafana": {
            "admin": {
                "existingSecret": grafana_secret,
                "userKey": GRAFANA_USER_KEY,
                "passwordKey": GRAFANA_PASSWORD_KEY,
            },
            "sidecar": {
                "dashboards": {"enabled": True, "label": DASHBOARD_LABEL, "labelValue": "1"}
            },
            "resources": _resources("50m", "256Mi", "512Mi"),
            **placement,
        },
        "prometheusOperator": {"resources": _resources("50m", "128Mi", "256Mi"), **placement},
        "kube-state-metrics": {
            # Labels the rules and the dashboard join on: model pods' version, GPU nodes' pool.
            "metricLabelsAllowlist": [
                f"pods=[{MODEL_VERSION_LABEL},{NAME_LABEL}]",
                f"nodes=[{NODE_POOL_LABEL},{','.join(sorted(args.gpu_node_selector))}]",
            ],
            "resources": _resources("20m", "64Mi", "256Mi"),
            **placement,
        },
        # A DaemonSet on every node, GPU nodes included (it tolerates every taint).
        "prometheus-node-exporter": {"resources": _resources("20m", "32Mi", "64Mi")},
    }


def dcgm_exporter_values(args: MonitoringArgs) -> dict[str, Any]:
    """On the GPU nodes only; this component's own ServiceMonitor scrapes it."""
    return {
        "nodeSelector": dict(args.gpu_node_selector),
        "tolerations": [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}],
        "serviceMonitor": {"enabled": False},
        "resources": _resources("50m", "256Mi", "1Gi"),
        "podLabels": load_identity().cost_labels(args.environment),
    }


def dcgm_service_monitor_spec(args: MonitoringArgs) -> dict[str, Any]:
    return {
        "selector": {
            "matchLabels": {NAME_LABEL: DCGM_RELEASE, "app.kubernetes.io/instance": DCGM_RELEASE}
        },
        "namespaceSelector": {"matchNames": [args.namespace]},
        "jobLabel": NAME_LABEL,
        "endpoints": [
            {
                "port": "metrics",
                "path": "/metrics",
                "interval": "15s",
                # The node each GPU sits on: the rules alert per node, the dashboard per pool.
                "relabelings": [
                    {
                        "action": "replace",
                        "sourceLabels": ["__meta_kubernetes_pod_node_name"],
                        "targetLabel": "node",
                    }
                ],
            }
        ],
    }


def model_service_monitor_spec(args: MonitoringArgs) -> dict[str, Any]:
    return {
        "selector": {"matchLabels": {NAME_LABEL: args.model_name, COMPONENT_LABEL: "metrics"}},
        "namespaceSelector": {"matchNames": [args.model_namespace]},
        # `model_version` on every series is how the rules tell model targets from others.
        "podTargetLabels": [POD_HASH_LABEL, MODEL_VERSION_LABEL],
        "endpoints": [
            {
                "port": "http",
                "path": "/metrics",
                "interval": "15s",
                # BentoML's `endpoint` label (the request path) wins over the port name.
                "honorLabels": True,
            }
        ],
    }


def runbook_base() -> str:
    return f"https://github.com/{load_identity().repository}/blob/main"


class Monitoring(pulumi.ComponentResource):
    """kube-prometheus-stack, the DCGM exporter, and the project's rules and dashboards."""

    namespace: pulumi.Output[str]
    prometheus_url: pulumi.Output[str]
    grafana_admin_password: pulumi.Output[str]

    def __init__(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:monitoring:Monitoring", name, None, opts)
        labels = load_identity().cost_labels(args.environment)
        ns = args.namespace

        def meta(object_name: str, **extra_labels: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(
                name=object_name, namespace=ns, labels={**labels, **extra_labels}
            )

        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ns, labels=labels),
            opts=pulumi.ResourceOptions(parent=self),
        )
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[namespace])

        password = random.RandomPassword(
            f"{name}-grafana-password",
            length=32,
            special=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        grafana_secret = "grafana-admin"  # noqa: S105 (the Secret's name)
        secret = k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata=meta(grafana_secret),
            type="Opaque",
            string_data={GRAFANA_USER_KEY: "admin", GRAFANA_PASSWORD_KEY: password.result},
            opts=in_ns,
        )

        stack = k8s.helm.v3.Release(
            f"{name}-kube-prometheus-stack",
            name=STACK_RELEASE,
            chart=KUBE_PROMETHEUS_STACK.name,
            version=KUBE_PROMETHEUS_STACK.version,
            repository_opts={"repo": KUBE_PROMETHEUS_STACK.repo},
            namespace=ns,
            atomic=True,
            timeout=900,
            values=kube_prometheus_stack_values(args, grafana_secret),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, secret]),
        )
        # The CRDs come with the chart: custom resources wait for it.
        after_stack = pulumi.ResourceOptions(parent=self, depends_on=[stack])

        if args.gpu_metrics:
            exporter = k8s.helm.v3.Release(
                f"{name}-dcgm-exporter",
                name=DCGM_RELEASE,
                chart=DCGM_EXPORTER.name,
                version=DCGM_EXPORTER.version,
                repository_opts={"repo": DCGM_EXPORTER.repo},
                namespace=ns,
                atomic=True,
                values=dcgm_exporter_values(args),
                opts=in_ns,
            )
            k8s.apiextensions.CustomResource(
                f"{name}-dcgm-service-monitor",
                api_version="monitoring.coreos.com/v1",
                kind="ServiceMonitor",
                metadata=meta(DCGM_RELEASE, release=STACK_RELEASE),
                spec=dcgm_service_monitor_spec(args),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[stack, exporter]),
            )

        if args.model_service_monitor:
            k8s.apiextensions.CustomResource(
                f"{name}-model-service-monitor",
                api_version="monitoring.coreos.com/v1",
                kind="ServiceMonitor",
                metadata=meta(args.model_name, release=STACK_RELEASE),
                spec=model_service_monitor_spec(args),
                opts=after_stack,
            )

        for stem, document in render_rules(args.alert_thresholds, runbook_base()).items():
            k8s.apiextensions.CustomResource(
                f"{name}-rules-{stem}",
                api_version="monitoring.coreos.com/v1",
                kind="PrometheusRule",
                metadata=meta(f"mlops-{stem}", release=STACK_RELEASE),
                spec={"groups": document["groups"]},
                opts=after_stack,
            )

        for stem, text in load_dashboards().items():
            k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{stem}",
                metadata=meta(f"grafana-dashboard-{stem}", **{DASHBOARD_LABEL: "1"}),
                data={f"{stem}.json": text},
                opts=in_ns,
            )

        self.namespace = pulumi.Output.from_input(ns)
        self.prometheus_url = pulumi.Output.from_input(
            f"http://{STACK_RELEASE}-prometheus.{ns}.svc.cluster.local:{PROMETHEUS_PORT}"
        )
        self.grafana_admin_password = pulumi.Output.secret(password.result)
        self.register_outputs(
            {
                "namespace": self.namespace,
                "prometheus_url": self.prometheus_url,
                "grafana_admin_password": self.grafana_admin_password,
            }
        )
