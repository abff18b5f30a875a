"""Rendering the monitoring component under Pulumi's mocks, shared by its tests."""

from __future__ import annotations

from functools import cache
from typing import Any

import jsonschema
import yaml

from infra.components.monitoring.args import AlertSink, MonitoringArgs
from infra.components.monitoring.component import Monitoring
from infra.helpers.charts import KUBERNETES_VERSIONS
from infra.helpers.iam import Irsa
from infra.settings import MonitoringSettings, Naming
from tests.support.paths import TEST_DATA
from tests.support.pulumi_unit import KEY, PROJECT
from tests.support.rendering import ACCOUNT_ID, Declared, by_type, render

CRDS = TEST_DATA / "crds"

# Every Kubernetes minor the cluster settings accept.
K8S_VERSIONS = sorted(KUBERNETES_VERSIONS)

MODEL = "breast-cancer-classifier"

RELEASE = "kubernetes:helm.sh/v3:Release"

SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"

PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"

CORE = {
    "kubernetes:core/v1:Namespace",
    "kubernetes:core/v1:Secret",
    "kubernetes:core/v1:ConfigMap",
}

EMAILS = ["oncall@example.com", "platform@example.com"]

# The monitoring section of a stack file (camelCase keys).
SECTION = {
    "retention": "15d",
    "storageGib": 50,
    "prometheusCpuMillicores": 500,
    "prometheusMemoryMib": 2048,
    "gpuMetrics": True,
    "alertThresholds": {},
    "alertEmails": EMAILS,
}

ISSUER = "oidc.eks.us-east-1.amazonaws.com/id/ABC"

SINK = AlertSink(
    naming=Naming(PROJECT, "dev"),
    region="us-east-1",
    irsa=Irsa(f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{ISSUER}", ISSUER),
    key_arn=KEY,
)


def monitoring(section: dict[str, Any] | None = None, **overrides: Any) -> list[Declared]:
    settings = MonitoringSettings.model_validate({**SECTION, **(section or {})})
    args = MonitoringArgs(
        **{
            "settings": settings,
            "environment": "dev",
            "model_name": MODEL,
            "alert_sink": SINK,
            **overrides,
        }
    )
    return render(lambda: Monitoring("monitoring", args) and None)


def release(resources: list[Declared], chart: str) -> dict[str, Any]:
    (found,) = [r.inputs for r in by_type(resources, RELEASE) if r.inputs["chart"] == chart]
    return found


@cache
def crd_validator(kind: str) -> jsonschema.Draft202012Validator:
    # Not meta-validated: the CRDs' patterns use Go's `(?i)` mid-pattern, which Python rejects;
    # only fields we set are matched against their patterns.
    for path in CRDS.glob("monitoring.coreos.com_*.yaml"):
        crd = yaml.safe_load(path.read_text())
        if crd["spec"]["names"]["kind"] == kind:
            (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
            return jsonschema.Draft202012Validator(version["schema"]["openAPIV3Schema"])
    raise LookupError(kind)
