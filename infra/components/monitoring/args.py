"""What the Monitoring component takes: the stack's settings, the program's names, the sink."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from infra.components.cluster import GP3_STORAGE_CLASS
from infra.components.monitoring.names import MONITORING_NAMESPACE
from infra.helpers.args import DnsLabel, ModelName, validate_fields
from infra.helpers.iam import Irsa
from infra.helpers.labels import ACCELERATOR_LABEL
from infra.settings import MonitoringSettings, Naming
from ml.core.identity import LabelValue


@dataclass(frozen=True)
class AlertSink:
    """The AWS side of alert routing: the topic's name and key, and the cluster's IRSA issuer."""

    naming: Naming
    region: str
    irsa: Irsa
    key_arn: pulumi.Input[str]


@dataclass(frozen=True)
class MonitoringArgs:
    """The stack's monitoring settings plus what the program knows; checked on creation."""

    settings: MonitoringSettings
    environment: LabelValue
    model_name: ModelName
    alert_sink: AlertSink
    namespace: DnsLabel = MONITORING_NAMESPACE
    storage_class: DnsLabel = GP3_STORAGE_CLASS
    # The DCGM exporter runs only where these labels are (the GPU pools) and tolerates their
    # taint; everything else in this component keeps off those nodes.
    gpu_node_selector: dict[str, str] = field(default_factory=lambda: {ACCELERATOR_LABEL: "nvidia"})
    system_node_selector: dict[str, str] = field(default_factory=dict)
    # The model's metrics Service (labels app.kubernetes.io/name=<model_name> and
    # app.kubernetes.io/component=metrics). The serving component ships its own ServiceMonitor;
    # turn this on only for a service deployed without one, or series are scraped twice.
    model_namespace: DnsLabel = "serving"
    model_service_monitor: bool = False

    def __post_init__(self) -> None:
        validate_fields(self)
