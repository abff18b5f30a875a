"""The monitoring stack's fixed names: namespace, release names, ports, labels and the URLs."""

from __future__ import annotations

from infra.helpers.charts import DCGM_EXPORTER, KUBE_PROMETHEUS_STACK, PUSHGATEWAY
from ml.core.identity import load_identity

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
GRAFANA_SECRET = "grafana-admin"  # noqa: S105 (the Secret's name)
GRAFANA_USER_KEY = "admin-user"
GRAFANA_PASSWORD_KEY = "admin-password"  # noqa: S105 (a key name in the Secret)


def prometheus_url(namespace: str = MONITORING_NAMESPACE) -> str:
    """Prometheus inside the cluster (the canary analysis queries it)."""
    return f"http://{STACK_RELEASE}-prometheus.{namespace}.svc.cluster.local:{PROMETHEUS_PORT}"


def pushgateway_url(namespace: str = MONITORING_NAMESPACE) -> str:
    """The Pushgateway inside the cluster (batch jobs push their results there)."""
    return f"http://{PUSHGATEWAY_RELEASE}.{namespace}.svc.cluster.local:{PUSHGATEWAY_PORT}"


def runbook_base() -> str:
    """Where the alerts' `runbook` paths resolve: the repository's main branch."""
    return f"https://github.com/{load_identity().repository}/blob/main"
