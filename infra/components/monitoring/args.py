"""What the Monitoring component takes: the stack's settings, the program's names, the sink."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Annotated

import pulumi
from pydantic import Field, TypeAdapter, ValidationError

from infra.components.cluster import GP3_STORAGE_CLASS
from infra.components.monitoring.names import MONITORING_NAMESPACE
from infra.helpers.iam import Irsa
from infra.helpers.labels import ACCELERATOR_LABEL
from infra.settings import MonitoringSettings, Naming
from ml.core.errors import dotted_key, problems
from ml.core.identity import LabelValue

DnsLabel = Annotated[str, Field(pattern=r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")]
ModelName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,40}[a-z0-9]$")]


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
    environment: str
    model_name: str
    alert_sink: AlertSink
    namespace: str = MONITORING_NAMESPACE
    storage_class: str = GP3_STORAGE_CLASS
    # The DCGM exporter runs only where these labels are (the GPU pools) and tolerates their
    # taint; everything else in this component keeps off those nodes.
    gpu_node_selector: dict[str, str] = field(default_factory=lambda: {ACCELERATOR_LABEL: "nvidia"})
    system_node_selector: dict[str, str] = field(default_factory=dict)
    # The model's metrics Service (labels app.kubernetes.io/name=<model_name> and
    # app.kubernetes.io/component=metrics). The serving component ships its own ServiceMonitor;
    # turn this on only for a service deployed without one, or series are scraped twice.
    model_namespace: str = "serving"
    model_service_monitor: bool = False

    def __post_init__(self) -> None:
        wrong: list[str] = []
        for key, adapter in _CHECKS.items():
            try:
                adapter.validate_python(getattr(self, key))
            except ValidationError as error:
                wrong += problems(error, partial(dotted_key, prefix=(key,)))
        if wrong:
            raise ValueError(f"MonitoringArgs: {'; '.join(wrong)}")


# The fields that become Kubernetes names and label values, and the form each must have.
_CHECKS: dict[str, TypeAdapter[str]] = {
    "environment": TypeAdapter(LabelValue),
    "model_name": TypeAdapter(ModelName),
    "namespace": TypeAdapter(DnsLabel),
    "storage_class": TypeAdapter(DnsLabel),
    "model_namespace": TypeAdapter(DnsLabel),
}
