"""The ServiceMonitors the component ships: the DCGM exporter's and, optionally, the model's."""

from __future__ import annotations

from typing import Any

from infra.components.monitoring.args import MonitoringArgs
from infra.components.monitoring.names import DCGM_RELEASE
from infra.components.serving.specs import service_monitor_spec
from infra.helpers.labels import NAME_LABEL


def dcgm_service_monitor_spec(args: MonitoringArgs) -> dict[str, Any]:
    """The exporter's Service (the chart labels it with its name and release), per node."""
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
    """The model's metrics Service, scraped the way the serving component scrapes it."""
    return service_monitor_spec(args.model_name, args.model_namespace)
