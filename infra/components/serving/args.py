"""What the serving components are given: their Args, and the ordering their options carry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated

import pulumi
from pydantic import AfterValidator

from infra.helpers.args import DnsLabel, ModelName, Url, validate_fields
from infra.helpers.iam import Irsa
from infra.settings import Naming, ServingSettings
from infra.settings.fields import Region
from ml.core.identity import LabelValue


def _shipped(settings: ServingSettings) -> ServingSettings:
    if not settings.shipped:
        raise ValueError("serving.image is not set: no model has been shipped to this stack")
    return settings


ShippedSettings = Annotated[ServingSettings, AfterValidator(_shipped)]


@dataclass(frozen=True)
class ServingAccess:
    """What ServingPlatform made for the pods: the bucket and the IRSA roles."""

    bucket: pulumi.Input[str]
    model_role_arn: pulumi.Input[str]
    drift_role_arn: pulumi.Input[str]


@dataclass(frozen=True)
class ServingArgs:
    """Everything ModelServing needs: the stack's settings plus what the program knows."""

    environment: LabelValue
    region: Region
    model_name: ModelName
    # kube-prometheus-stack's Prometheus (the canary analysis queries it), the namespace it
    # scrapes from, the labels its ServiceMonitors carry, and the Pushgateway
    # (infra/components/monitoring).
    prometheus_url: Url
    prometheus_namespace: DnsLabel
    service_monitor_labels: Mapping[str, str]
    pushgateway_url: Url
    settings: ShippedSettings
    access: ServingAccess

    def __post_init__(self) -> None:
        validate_fields(self)

    @property
    def image(self) -> str:
        return self.settings.image or ""

    @property
    def model_version(self) -> str:
        return self.settings.model_version or ""


@dataclass(frozen=True)
class ServingPlatformArgs:
    settings: ServingSettings
    environment: str
    model_name: str
    naming: Naming
    region: str
    irsa: Irsa
    artifacts_bucket: pulumi.Input[str]
    artifacts_bucket_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    # ci.deployNamespaces, and the Kubernetes group the deploy role is a member of.
    deploy_namespaces: Sequence[str]
    deploy_group: str


@dataclass(frozen=True)
class RolloutsControllerArgs:
    environment: str
    # The labels kube-prometheus-stack's ServiceMonitor selector matches.
    service_monitor_labels: Mapping[str, str]
