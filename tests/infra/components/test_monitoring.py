"""The monitoring component rendered under Pulumi's mocks and checked against the API schemas."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from kubernetes_validate.utils import validate as validate_k8s
from pydantic import ValidationError

from infra.components.monitoring.alert_rules import load_dashboards
from infra.components.monitoring.args import MonitoringArgs
from infra.components.monitoring.names import prometheus_url, pushgateway_url
from infra.helpers.charts import KUBE_PROMETHEUS_STACK, PUSHGATEWAY
from infra.settings import MonitoringSettings
from ml.core.identity import load_identity
from tests.infra.components.monitoring_render import (
    CORE,
    K8S_VERSIONS,
    MODEL,
    PROMETHEUS_RULE,
    RELEASE,
    SECTION,
    SERVICE_MONITOR,
    SINK,
    crd_validator,
)
from tests.support.rendering import Declared, by_type


def test_custom_resources_match_the_operator_schemas(full: list[Declared]) -> None:
    custom = by_type(full, SERVICE_MONITOR) + by_type(full, PROMETHEUS_RULE)
    assert len(custom) == 4  # DCGM and model ServiceMonitors, two rule files
    for resource in custom:
        crd_validator(resource.inputs["kind"]).validate(resource.inputs)


def test_a_broken_custom_resource_fails_its_schema(full: list[Declared]) -> None:
    rule = json.loads(json.dumps(by_type(full, PROMETHEUS_RULE)[0].inputs))
    rule["spec"]["groups"][0]["rules"][1]["for"] = "five minutes"
    with pytest.raises(jsonschema.ValidationError):
        crd_validator("PrometheusRule").validate(rule)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_core_objects_match_the_kubernetes_schemas(full: list[Declared], version: str) -> None:
    core = [r for r in full if r.typ in CORE]
    assert {r.typ for r in core} == CORE
    for resource in core:
        validate_k8s(resource.inputs, version, strict=True)


def test_model_service_monitor_selects_the_metrics_service(full: list[Declared]) -> None:
    (monitor,) = [
        r.inputs for r in by_type(full, SERVICE_MONITOR) if r.inputs["metadata"]["name"] == MODEL
    ]
    spec = monitor["spec"]
    assert spec["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": MODEL,
        "app.kubernetes.io/component": "metrics",
    }
    assert spec["namespaceSelector"] == {"matchNames": ["serving"]}
    assert "model-version" in spec["podTargetLabels"]
    assert spec["endpoints"][0]["path"] == "/metrics"
    assert spec["endpoints"][0]["honorLabels"] is True


def test_optional_parts_can_be_left_out(minimal: list[Declared]) -> None:
    assert [r.inputs["chart"] for r in by_type(minimal, RELEASE)] == [
        KUBE_PROMETHEUS_STACK.name,
        PUSHGATEWAY.name,
    ]
    assert by_type(minimal, SERVICE_MONITOR) == []
    assert len(by_type(minimal, PROMETHEUS_RULE)) == 2


def test_rules_carry_the_stack_thresholds_and_runbook_links(full: list[Declared]) -> None:
    rules = {
        rule.get("record") or rule["alert"]: rule
        for resource in by_type(full, PROMETHEUS_RULE)
        for group in resource.inputs["spec"]["groups"]
        for rule in group["rules"]
    }
    assert rules["mlops:threshold:error_ratio"]["expr"] == "vector(0.02)"
    assert rules["mlops:threshold:gpu_util_low_percent"]["expr"] == "vector(5.0)"
    assert rules["mlops:threshold:latency_p95_seconds"]["expr"] == "vector(0.5)"
    repository = load_identity().repository
    for name, rule in rules.items():
        if "alert" in rule:
            assert rule["annotations"]["runbook_url"] == (
                f"https://github.com/{repository}/blob/main/infra/components/monitoring/README.md"
                f"#{name.lower()}"
            )


def test_dashboards_ship_as_sidecar_config_maps(full: list[Declared]) -> None:
    maps = by_type(full, "kubernetes:core/v1:ConfigMap")
    shipped = {k: v for m in maps for k, v in m.inputs["data"].items()}
    assert shipped == {f"{stem}.json": text for stem, text in load_dashboards().items()}
    for config_map in maps:
        assert config_map.inputs["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map.inputs["metadata"]["namespace"] == "monitoring"
    for text in shipped.values():
        assert json.loads(text)["panels"]


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"alertThresholds": {"error_rate": 0.1}}, "alertThresholds"),
        ({"retention": "15 days"}, "retention"),
        ({"storageGib": 1}, "storageGib"),
        ({"alertEmails": []}, "alertEmails"),
        ({"alertEmails": ["not-an-email"]}, "alertEmails.0"),
        ({"prometheusMemoryMib": 100}, "prometheusMemoryMib"),
    ],
)
def test_bad_settings_name_the_key(section: dict[str, Any], key: str) -> None:
    with pytest.raises(ValidationError) as raised:
        MonitoringSettings.model_validate({**SECTION, **section})
    assert key in {".".join(map(str, e["loc"])) for e in raised.value.errors()}
    with pytest.raises(ValueError, match="model_name"):
        MonitoringArgs(
            settings=MonitoringSettings.model_validate(SECTION),
            environment="dev",
            model_name="Bad_Name",
            alert_sink=SINK,
        )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("environment", "not a label"),
        ("model_name", "Bad_Name"),
        ("namespace", "Monitoring"),
        ("storage_class", "gp3_"),
        ("model_namespace", "-serving"),
    ],
)
def test_bad_args_name_the_field(key: str, value: str) -> None:
    fields: dict[str, Any] = {"environment": "dev", "model_name": MODEL, key: value}
    with pytest.raises(ValueError, match=f"^MonitoringArgs: {key}: String should match"):
        MonitoringArgs(
            settings=MonitoringSettings.model_validate(SECTION), alert_sink=SINK, **fields
        )


def test_an_unknown_threshold_names_itself_and_the_known_ones() -> None:
    with pytest.raises(ValidationError, match="error_rate: no such threshold; known: "):
        MonitoringSettings.model_validate({**SECTION, "alertThresholds": {"error_rate": 0.1}})


def test_urls_follow_the_release_names() -> None:
    # The charts name their Services after the release (kube-prometheus-stack adds -prometheus).
    assert prometheus_url() == (
        "http://kube-prometheus-stack-prometheus.monitoring.svc.cluster.local:9090"
    )
    assert pushgateway_url("obs") == "http://prometheus-pushgateway.obs.svc.cluster.local:9091"
