"""The monitoring component rendered under Pulumi's mocks and checked against the API schemas."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jsonschema
import pytest
import yaml
from kubernetes_validate.utils import validate as validate_k8s
from pydantic import ValidationError

from infra.components.monitoring.alert_rules import load_dashboards
from infra.components.monitoring.args import AlertSink, MonitoringArgs
from infra.components.monitoring.component import Monitoring
from infra.components.monitoring.names import prometheus_url, pushgateway_url
from infra.helpers.charts import (
    CLUSTER_AUTOSCALER_CHARTS,
    DCGM_EXPORTER,
    KUBE_PROMETHEUS_STACK,
    PUSHGATEWAY,
)
from infra.helpers.iam import Irsa
from infra.settings import MonitoringSettings, Naming
from ml.core.identity import load_identity
from tests.support.paths import TEST_DATA
from tests.support.pulumi_unit import KEY, PROJECT
from tests.support.rendering import ACCOUNT_ID, Declared, by_type, render

CRDS = TEST_DATA / "crds"
# Every Kubernetes minor the cluster settings accept.
K8S_VERSIONS = sorted(CLUSTER_AUTOSCALER_CHARTS)
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


@pytest.fixture(scope="module")
def full() -> list[Declared]:
    return monitoring(
        {
            "alertThresholds": {"error_ratio": 0.02, "gpu_util_low_percent": 5},
            "retention": "30d",
            "storageGib": 80,
        },
        model_service_monitor=True,
        system_node_selector={"pool": "system"},
    )


@pytest.fixture(scope="module")
def minimal() -> list[Declared]:
    return monitoring({"gpuMetrics": False})


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


def test_everything_carries_the_cost_labels(full: list[Declared]) -> None:
    labels = load_identity().cost_labels("dev")
    for resource in full:
        if "metadata" in resource.inputs:
            assert labels.items() <= resource.inputs["metadata"]["labels"].items(), resource.name
    stack = release(full, KUBE_PROMETHEUS_STACK.name)
    assert stack["values"]["commonLabels"] == labels
    assert release(full, DCGM_EXPORTER.name)["values"]["podLabels"] == labels
    assert release(full, PUSHGATEWAY.name)["values"]["podLabels"] == labels


def test_charts_are_pinned(full: list[Declared]) -> None:
    for chart in (KUBE_PROMETHEUS_STACK, DCGM_EXPORTER, PUSHGATEWAY):
        found = release(full, chart.name)
        assert found["version"] == chart.version
        assert found["repositoryOpts"] == {"repo": chart.repo}
        assert found["namespace"] == "monitoring"
    assert KUBE_PROMETHEUS_STACK.repo == "https://prometheus-community.github.io/helm-charts"
    assert PUSHGATEWAY.repo == KUBE_PROMETHEUS_STACK.repo
    assert DCGM_EXPORTER.repo == "https://nvidia.github.io/dcgm-exporter/helm-charts"


def test_grafana_password_is_generated_and_only_referenced(full: list[Declared]) -> None:
    (password,) = by_type(full, "random:index/randomPassword:RandomPassword")
    assert password.inputs["length"] >= 32
    (secret,) = by_type(full, "kubernetes:core/v1:Secret")
    assert "stringData" in secret.secret_keys
    assert secret.inputs["stringData"]["admin-password"] == "r" * password.inputs["length"]
    grafana = release(full, KUBE_PROMETHEUS_STACK.name)["values"]["grafana"]
    assert grafana["admin"] == {
        "existingSecret": secret.inputs["metadata"]["name"],
        "userKey": "admin-user",
        "passwordKey": "admin-password",
    }
    assert set(grafana["admin"].values()) - {secret.inputs["metadata"]["name"]} <= set(
        secret.inputs["stringData"]
    )
    stack = json.dumps(release(full, KUBE_PROMETHEUS_STACK.name)["values"])
    assert "adminPassword" not in stack
    assert "r" * 32 not in stack


def test_prometheus_storage_retention_and_resources(full: list[Declared]) -> None:
    values = release(full, KUBE_PROMETHEUS_STACK.name)["values"]
    spec = values["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "30d"
    assert spec["retentionSize"] == "68GB"
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == "gp3"
    assert claim["resources"]["requests"]["storage"] == "80Gi"
    assert spec["resources"] == {
        "requests": {"cpu": "500m", "memory": "2048Mi"},
        "limits": {"memory": "2048Mi"},
    }
    for component in (
        values["alertmanager"]["alertmanagerSpec"],
        values["grafana"],
        values["prometheusOperator"],
        values["kube-state-metrics"],
        values["prometheus-node-exporter"],
    ):
        assert component["resources"]["requests"].keys() == {"cpu", "memory"}
        assert "memory" in component["resources"]["limits"]


def test_stack_stays_off_the_gpu_nodes(full: list[Declared]) -> None:
    values = release(full, KUBE_PROMETHEUS_STACK.name)["values"]
    off_gpu = {"key": "accelerator", "operator": "NotIn", "values": ["nvidia"]}
    for component in (
        values["prometheus"]["prometheusSpec"],
        values["alertmanager"]["alertmanagerSpec"],
        values["grafana"],
        values["prometheusOperator"],
        values["kube-state-metrics"],
    ):
        required = component["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ]
        assert required["nodeSelectorTerms"] == [{"matchExpressions": [off_gpu]}]
        assert component["nodeSelector"] == {"pool": "system"}


def test_every_rule_and_monitor_is_selected(full: list[Declared]) -> None:
    spec = release(full, KUBE_PROMETHEUS_STACK.name)["values"]["prometheus"]["prometheusSpec"]
    for kind in ("rule", "serviceMonitor", "podMonitor", "probe"):
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is False


def test_dcgm_exporter_runs_on_gpu_nodes_and_is_scraped(full: list[Declared]) -> None:
    exporter = release(full, DCGM_EXPORTER.name)
    assert exporter["name"] == "dcgm-exporter"
    values = exporter["values"]
    assert values["nodeSelector"] == {"accelerator": "nvidia"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in values[
        "tolerations"
    ]
    assert values["serviceMonitor"] == {"enabled": False}
    (monitor,) = [
        r.inputs
        for r in by_type(full, SERVICE_MONITOR)
        if r.inputs["metadata"]["name"] == "dcgm-exporter"
    ]
    # The chart labels its Service with its name and the release name, port `metrics`.
    assert monitor["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "dcgm-exporter",
        "app.kubernetes.io/instance": exporter["name"],
    }
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics"
    # The rules group GPUs by `node`, and GpuExporterDown selects job="dcgm-exporter".
    assert endpoint["relabelings"][0]["targetLabel"] == "node"
    assert monitor["spec"]["jobLabel"] == "app.kubernetes.io/name"


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


def test_alertmanager_routes_alerts_to_the_encrypted_topic(full: list[Declared]) -> None:
    (topic,) = by_type(full, "aws:sns/topic:Topic")
    assert topic.inputs["name"] == f"{SINK.naming.prefix}-alerts"
    assert topic.inputs["kmsMasterKeyId"] == KEY
    subscriptions = by_type(full, "aws:sns/topicSubscription:TopicSubscription")
    assert sorted(s.inputs["endpoint"] for s in subscriptions) == sorted(EMAILS)
    assert {s.inputs["protocol"] for s in subscriptions} == {"email"}
    (topic_policy,) = by_type(full, "aws:sns/topicPolicy:TopicPolicy")
    (deny,) = json.loads(topic_policy.inputs["policy"])["Statement"]
    assert (deny["Effect"], deny["Condition"]) == (
        "Deny",
        {"Bool": {"aws:SecureTransport": "false"}},
    )

    values = release(full, KUBE_PROMETHEUS_STACK.name)["values"]["alertmanager"]
    config = values["config"]
    receivers = {r["name"]: r for r in config["receivers"]}
    (sns,) = receivers[config["route"]["receiver"]]["sns_configs"]
    topic_arn = "arn:aws:mock:::monitoring-alerts"
    assert sns == {"topic_arn": topic_arn, "sigv4": {"region": "us-east-1"}, "send_resolved": True}
    # The chart's heartbeat alerts fire all the time: they go nowhere.
    heartbeats = {m for r in config["route"]["routes"] for m in r["matchers"]}
    assert heartbeats == {'alertname = "Watchdog"', 'alertname = "InfoInhibitor"'}
    assert {r["receiver"] for r in config["route"]["routes"]} == {"null"}
    assert receivers["null"] == {"name": "null"}

    (role,) = by_type(full, "aws:iam/role:Role")
    assert values["serviceAccount"]["annotations"] == {
        "eks.amazonaws.com/role-arn": f"arn:aws:mock:::{SINK.naming.prefix}-alertmanager"
    }
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Condition"]["StringEquals"] == {
        f"{ISSUER}:aud": "sts.amazonaws.com",
        f"{ISSUER}:sub": [f"system:serviceaccount:monitoring:{values['serviceAccount']['name']}"],
    }
    (role_policy,) = by_type(full, "aws:iam/rolePolicy:RolePolicy")
    granted = {s["Sid"]: s for s in json.loads(role_policy.inputs["policy"])["Statement"]}
    assert granted["PublishAlerts"] == {
        "Sid": "PublishAlerts",
        "Effect": "Allow",
        "Action": "sns:Publish",
        "Resource": topic_arn,
    }
    assert granted["EncryptThroughSns"]["Resource"] == KEY
    assert granted["EncryptThroughSns"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "sns.us-east-1.amazonaws.com"}
    }


def test_pushgateway_is_scraped_with_the_pushed_labels(full: list[Declared]) -> None:
    values = release(full, PUSHGATEWAY.name)["values"]
    monitor = values["serviceMonitor"]
    assert monitor["enabled"] is True
    assert monitor["honorLabels"] is True
    assert monitor["namespace"] == "monitoring"
    assert values["containerSecurityContext"]["readOnlyRootFilesystem"] is True
    assert values["securityContext"]["runAsNonRoot"] is True
    assert values["nodeSelector"] == {"pool": "system"}
    assert values["resources"]["limits"]["memory"]


def test_urls_follow_the_release_names() -> None:
    # The charts name their Services after the release (kube-prometheus-stack adds -prometheus).
    assert prometheus_url() == (
        "http://kube-prometheus-stack-prometheus.monitoring.svc.cluster.local:9090"
    )
    assert pushgateway_url("obs") == "http://prometheus-pushgateway.obs.svc.cluster.local:9091"
