"""Metrics and alerts: kube-prometheus-stack, NVIDIA's DCGM exporter, a Pushgateway, our rules and
dashboards, and Alertmanager routed to an encrypted SNS topic the alert emails subscribe to.

The alert rules and the dashboard are plain files in infra/components/monitoring/ that promtool and Grafana
read as they are (infra/components/monitoring/alert_rules.py); this component ships them as PrometheusRule objects and
ConfigMaps with the stack's thresholds. Batch jobs (the drift CronJob) push their results to the
Pushgateway, which Prometheus scrapes keeping the pushed `job` label. Alertmanager publishes to
SNS with its own IAM role (IRSA), so alerts reach people on the first `pulumi up`; each email
address confirms its subscription once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random
from pydantic import BaseModel, ConfigDict, Field

from infra.components.cluster import GP3_STORAGE_CLASS
from infra.components.monitoring.alert_rules import load_dashboards, render_rules
from infra.helpers.charts import DCGM_EXPORTER, KUBE_PROMETHEUS_STACK, PUSHGATEWAY
from infra.helpers.iam import Irsa, irsa_role
from infra.helpers.labels import (
    ACCELERATOR_LABEL,
    COMPONENT_LABEL,
    GPU_RESOURCE,
    MODEL_VERSION_LABEL,
    NAME_LABEL,
    NODE_POOL_LABEL,
    POD_HASH_LABEL,
)
from infra.helpers.notifications import email_alert_topic, tls_only_topic_policy
from infra.settings import MonitoringSettings, Naming
from ml.core.identity import LabelValue, load_identity

# The release names fix the charts' object names (the Services below) and the `release` label
# kube-prometheus-stack's default selectors match. Everything that needs a URL asks the
# functions below, so these names live in one place.
MONITORING_NAMESPACE = "monitoring"
STACK_RELEASE = KUBE_PROMETHEUS_STACK.name
DCGM_RELEASE = DCGM_EXPORTER.name
PUSHGATEWAY_RELEASE = PUSHGATEWAY.name
PROMETHEUS_PORT = 9090
PUSHGATEWAY_PORT = 9091
SERVICE_MONITOR_LABELS = {"release": STACK_RELEASE}
ALERTMANAGER_SERVICE_ACCOUNT = "alertmanager"
DASHBOARD_LABEL = "grafana_dashboard"
GRAFANA_USER_KEY = "admin-user"
GRAFANA_PASSWORD_KEY = "admin-password"  # noqa: S105 (a key name in the Secret)

DnsLabel = Annotated[str, Field(pattern=r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")]


def prometheus_url(namespace: str = MONITORING_NAMESPACE) -> str:
    """Prometheus inside the cluster (the canary analysis queries it)."""
    return f"http://{STACK_RELEASE}-prometheus.{namespace}.svc.cluster.local:{PROMETHEUS_PORT}"


def pushgateway_url(namespace: str = MONITORING_NAMESPACE) -> str:
    """The Pushgateway inside the cluster (batch jobs push their results there)."""
    return f"http://{PUSHGATEWAY_RELEASE}.{namespace}.svc.cluster.local:{PUSHGATEWAY_PORT}"


class MonitoringArgs(BaseModel):
    """The stack's monitoring settings plus what the program knows; validated on creation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    settings: MonitoringSettings
    environment: LabelValue
    namespace: DnsLabel = MONITORING_NAMESPACE
    storage_class: DnsLabel = GP3_STORAGE_CLASS
    # The DCGM exporter runs only where these labels are (the GPU pools) and tolerates their
    # taint; everything else in this component keeps off those nodes.
    gpu_node_selector: dict[str, str] = Field(default_factory=lambda: {ACCELERATOR_LABEL: "nvidia"})
    system_node_selector: dict[str, str] = Field(default_factory=dict)
    # The model's metrics Service (labels app.kubernetes.io/name=<model_name> and
    # app.kubernetes.io/component=metrics). The serving component ships its own ServiceMonitor;
    # turn this on only for a service deployed without one, or series are scraped twice.
    model_name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,40}[a-z0-9]$")]
    model_namespace: DnsLabel = "serving"
    model_service_monitor: bool = False


@dataclass(frozen=True)
class AlertSink:
    """The AWS side of alert routing: the topic's name and key, and the cluster's IRSA issuer."""

    naming: Naming
    region: str
    irsa: Irsa
    key_arn: pulumi.Input[str]


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


def kube_prometheus_stack_values(
    args: MonitoringArgs,
    grafana_secret: str,
    alertmanager: dict[str, Any],
    alertmanager_role_arn: pulumi.Input[str],
) -> dict[str, Any]:
    """The chart's values: sized, persistent, off the GPU nodes, selecting every rule/monitor."""
    placement = _placement(args)
    settings = args.settings
    prometheus_memory = f"{settings.prometheus_memory_mib}Mi"
    return {
        "commonLabels": load_identity().cost_labels(args.environment),
        "crds": {"enabled": True},
        # ModelHpaAtMaxReplicas (rules/model-service.yaml) replaces it; one page per event.
        "defaultRules": {"disabled": {"KubeHpaMaxedOut": True}},
        "prometheus": {
            "prometheusSpec": {
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
                "resources": _resources(
                    f"{settings.prometheus_cpu_millicores}m", prometheus_memory, prometheus_memory
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
            "serviceAccount": {
                "create": True,
                "name": ALERTMANAGER_SERVICE_ACCOUNT,
                "annotations": {"eks.amazonaws.com/role-arn": alertmanager_role_arn},
            },
            "config": alertmanager,
            "alertmanagerSpec": {"resources": _resources("20m", "64Mi", "128Mi"), **placement},
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
        "resources": _resources("10m", "32Mi", "64Mi"),
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
        **_placement(args),
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
    """kube-prometheus-stack, the DCGM exporter, the Pushgateway, the project's rules and
    dashboards, and the SNS topic Alertmanager routes alerts to."""

    namespace: pulumi.Output[str]
    alerts_topic_arn: pulumi.Output[str]
    grafana_admin_password: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: MonitoringArgs,
        alerts: AlertSink,
        opts: pulumi.ResourceOptions | None = None,
        after: Sequence[pulumi.Resource] = (),
    ) -> None:
        """`after`: what the cluster needs first (nodes, the EBS CSI driver, the StorageClass)."""
        super().__init__("mlops:monitoring:Monitoring", name, None, opts)
        labels = load_identity().cost_labels(args.environment)
        ns = args.namespace
        child = pulumi.ResourceOptions(parent=self)

        def meta(object_name: str, **extra_labels: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(
                name=object_name, namespace=ns, labels={**labels, **extra_labels}
            )

        topic, alertmanager_role = self._alert_topic(name, args, alerts)

        # Every Kubernetes object here waits for the namespace, and so for `after`.
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ns, labels=labels),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(after)),
        )
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[namespace])

        password = random.RandomPassword(
            f"{name}-grafana-password", length=32, special=False, opts=child
        )
        grafana_secret = "grafana-admin"  # noqa: S105 (the Secret's name)
        secret = k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata=meta(grafana_secret),
            type="Opaque",
            string_data={GRAFANA_USER_KEY: "admin", GRAFANA_PASSWORD_KEY: password.result},
            opts=in_ns,
        )

        values = kube_prometheus_stack_values(
            args,
            grafana_secret,
            alertmanager_config(topic.arn, alerts.region),
            alertmanager_role.arn,
        )
        self.stack = KUBE_PROMETHEUS_STACK.release(
            f"{name}-kube-prometheus-stack",
            ns,
            values,
            pulumi.ResourceOptions(parent=self, depends_on=[namespace, secret]),
            timeout=900,
        )
        # The CRDs come with the chart: custom resources wait for it.
        after_stack = pulumi.ResourceOptions(parent=self, depends_on=[self.stack])

        self.pushgateway = PUSHGATEWAY.release(
            f"{name}-pushgateway", ns, pushgateway_values(args), after_stack
        )

        if args.settings.gpu_metrics:
            exporter = DCGM_EXPORTER.release(
                f"{name}-dcgm-exporter", ns, dcgm_exporter_values(args), in_ns
            )
            k8s.apiextensions.CustomResource(
                f"{name}-dcgm-service-monitor",
                api_version="monitoring.coreos.com/v1",
                kind="ServiceMonitor",
                metadata=meta(DCGM_RELEASE, **SERVICE_MONITOR_LABELS),
                spec=dcgm_service_monitor_spec(args),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.stack, exporter]),
            )

        if args.model_service_monitor:
            k8s.apiextensions.CustomResource(
                f"{name}-model-service-monitor",
                api_version="monitoring.coreos.com/v1",
                kind="ServiceMonitor",
                metadata=meta(args.model_name, **SERVICE_MONITOR_LABELS),
                spec=model_service_monitor_spec(args),
                opts=after_stack,
            )

        thresholds = args.settings.alert_thresholds
        for stem, document in render_rules(thresholds, runbook_base()).items():
            k8s.apiextensions.CustomResource(
                f"{name}-rules-{stem}",
                api_version="monitoring.coreos.com/v1",
                kind="PrometheusRule",
                metadata=meta(f"mlops-{stem}", **SERVICE_MONITOR_LABELS),
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

        self.namespace_name = ns
        self.namespace = pulumi.Output.from_input(ns)
        self.alerts_topic_arn = topic.arn
        self.grafana_admin_password = pulumi.Output.secret(password.result)
        self.register_outputs(
            {
                "namespace": self.namespace,
                "alerts_topic_arn": self.alerts_topic_arn,
                "grafana_admin_password": self.grafana_admin_password,
            }
        )

    def _alert_topic(
        self, name: str, args: MonitoringArgs, alerts: AlertSink
    ) -> tuple[aws.sns.Topic, aws.iam.Role]:
        """The encrypted topic with its email subscribers, and Alertmanager's role to publish."""
        topic, _ = email_alert_topic(
            name,
            topic_name=alerts.naming.topic("alerts"),
            key_arn=alerts.key_arn,
            policy=lambda arn: arn.apply(tls_only_topic_policy),
            emails=args.settings.alert_emails,
            parent=self,
        )
        role = irsa_role(
            f"{name}-alertmanager",
            alerts.naming.role("alertmanager"),
            alerts.irsa,
            args.namespace,
            ALERTMANAGER_SERVICE_ACCOUNT,
            [
                {
                    "Sid": "PublishAlerts",
                    "Effect": "Allow",
                    "Action": "sns:Publish",
                    "Resource": topic.arn,
                },
                {
                    # The topic is encrypted with the stack's key; SNS uses it on our behalf.
                    "Sid": "EncryptThroughSns",
                    "Effect": "Allow",
                    "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                    "Resource": alerts.key_arn,
                    "Condition": {
                        "StringEquals": {"kms:ViaService": f"sns.{alerts.region}.amazonaws.com"}
                    },
                },
            ],
            parent=self,
        )
        return topic, role
