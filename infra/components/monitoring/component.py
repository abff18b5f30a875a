"""Metrics and alerts: kube-prometheus-stack, NVIDIA's DCGM exporter, a Pushgateway, our rules and
dashboards, and Alertmanager routed to an encrypted SNS topic the alert emails subscribe to.

The alert rules and the dashboard are plain files in this package that promtool and Grafana read
as they are (alert_rules.py); this component ships them as PrometheusRule objects and ConfigMaps
with the stack's thresholds. Batch jobs (the drift CronJob) push their results to the
Pushgateway, which Prometheus scrapes keeping the pushed `job` label. Alertmanager publishes to
SNS with its own IAM role (IRSA), so alerts reach people on the first `pulumi up`; each email
address confirms its subscription once.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra.components.monitoring.alert_rules import load_dashboards, render_rules
from infra.components.monitoring.alerting import alert_topic
from infra.components.monitoring.args import MonitoringArgs
from infra.components.monitoring.monitors import (
    dcgm_service_monitor_spec,
    model_service_monitor_spec,
)
from infra.components.monitoring.names import (
    DASHBOARD_LABEL,
    DCGM_RELEASE,
    GRAFANA_PASSWORD_KEY,
    GRAFANA_SECRET,
    GRAFANA_USER_KEY,
    SERVICE_MONITOR_LABELS,
    runbook_base,
)
from infra.components.monitoring.values import (
    alertmanager_config,
    dcgm_exporter_values,
    kube_prometheus_stack_values,
    pushgateway_values,
)
from infra.helpers.charts import DCGM_EXPORTER, KUBE_PROMETHEUS_STACK, PUSHGATEWAY
from ml.core.identity import load_identity

MONITORING_TYPE = "mlops:monitoring:Monitoring"


def _metadata(
    args: MonitoringArgs, object_name: str, **extra_labels: str
) -> k8s.meta.v1.ObjectMetaArgs:
    labels = load_identity().cost_labels(args.environment)
    return k8s.meta.v1.ObjectMetaArgs(
        name=object_name, namespace=args.namespace, labels={**labels, **extra_labels}
    )


def _operator_object(
    resource_name: str,
    kind: str,
    metadata: k8s.meta.v1.ObjectMetaArgs,
    spec: dict[str, Any],
    opts: pulumi.ResourceOptions,
) -> k8s.apiextensions.CustomResource:
    """A custom resource of the Prometheus operator (ServiceMonitor, PrometheusRule)."""
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version="monitoring.coreos.com/v1",
        kind=kind,
        metadata=metadata,
        spec=spec,
        opts=opts,
    )


class Monitoring(pulumi.ComponentResource):
    """kube-prometheus-stack, the DCGM exporter, the Pushgateway, the project's rules and
    dashboards, and the SNS topic Alertmanager routes alerts to."""

    namespace: pulumi.Output[str]
    alerts_topic_arn: pulumi.Output[str]
    grafana_admin_password: pulumi.Output[str]

    def __init__(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        """`opts.depends_on`: what the cluster needs first (nodes, the EBS CSI driver, the
        StorageClass); every Kubernetes object here waits for it through the namespace."""
        super().__init__(MONITORING_TYPE, name, None, opts)
        topic, alertmanager_role = alert_topic(name, args, parent=self)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.namespace, labels=load_identity().cost_labels(args.environment)
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=opts.depends_on if opts else None),
        )
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        password, secret = self._grafana_admin(name, args, in_ns)

        values = kube_prometheus_stack_values(
            args,
            alertmanager_config(topic.arn, args.alert_sink.region),
            alertmanager_role.arn,
        )
        self.stack = KUBE_PROMETHEUS_STACK.release(
            f"{name}-kube-prometheus-stack",
            args.namespace,
            values,
            pulumi.ResourceOptions(parent=self, depends_on=[namespace, secret]),
            timeout=900,
        )
        # The CRDs come with the chart: custom resources wait for it.
        after_stack = pulumi.ResourceOptions(parent=self, depends_on=[self.stack])
        self.pushgateway = PUSHGATEWAY.release(
            f"{name}-pushgateway", args.namespace, pushgateway_values(args), after_stack
        )
        if args.settings.gpu_metrics:
            self._gpu_metrics(name, args, in_ns)
        if args.model_service_monitor:
            _operator_object(
                f"{name}-model-service-monitor",
                "ServiceMonitor",
                _metadata(args, args.model_name, **SERVICE_MONITOR_LABELS),
                model_service_monitor_spec(args),
                after_stack,
            )
        self._rules_and_dashboards(name, args, after_stack, in_ns)

        self.namespace_name = args.namespace
        self.namespace = pulumi.Output.from_input(args.namespace)
        self.alerts_topic_arn = topic.arn
        self.grafana_admin_password = pulumi.Output.secret(password.result)
        self.register_outputs(
            {
                "namespace": self.namespace,
                "alerts_topic_arn": self.alerts_topic_arn,
                "grafana_admin_password": self.grafana_admin_password,
            }
        )

    def _grafana_admin(
        self, name: str, args: MonitoringArgs, in_ns: pulumi.ResourceOptions
    ) -> tuple[random.RandomPassword, k8s.core.v1.Secret]:
        """A generated admin password, in the Secret Grafana reads it from (never in values)."""
        password = random.RandomPassword(
            f"{name}-grafana-password",
            length=32,
            special=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        secret = k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata=_metadata(args, GRAFANA_SECRET),
            type="Opaque",
            string_data={GRAFANA_USER_KEY: "admin", GRAFANA_PASSWORD_KEY: password.result},
            opts=in_ns,
        )
        return password, secret

    def _gpu_metrics(self, name: str, args: MonitoringArgs, in_ns: pulumi.ResourceOptions) -> None:
        """The DCGM exporter on the GPU nodes, and the ServiceMonitor that scrapes it."""
        exporter = DCGM_EXPORTER.release(
            f"{name}-dcgm-exporter", args.namespace, dcgm_exporter_values(args), in_ns
        )
        _operator_object(
            f"{name}-dcgm-service-monitor",
            "ServiceMonitor",
            _metadata(args, DCGM_RELEASE, **SERVICE_MONITOR_LABELS),
            dcgm_service_monitor_spec(args),
            pulumi.ResourceOptions(parent=self, depends_on=[self.stack, exporter]),
        )

    def _rules_and_dashboards(
        self,
        name: str,
        args: MonitoringArgs,
        after_stack: pulumi.ResourceOptions,
        in_ns: pulumi.ResourceOptions,
    ) -> None:
        """One PrometheusRule per rule file, one sidecar ConfigMap per dashboard."""
        thresholds = args.settings.alert_thresholds
        for stem, document in render_rules(thresholds, runbook_base()).items():
            _operator_object(
                f"{name}-rules-{stem}",
                "PrometheusRule",
                _metadata(args, f"mlops-{stem}", **SERVICE_MONITOR_LABELS),
                {"groups": document["groups"]},
                after_stack,
            )
        for stem, text in load_dashboards().items():
            k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{stem}",
                metadata=_metadata(args, f"grafana-dashboard-{stem}", **{DASHBOARD_LABEL: "1"}),
                data={f"{stem}.json": text},
                opts=in_ns,
            )
