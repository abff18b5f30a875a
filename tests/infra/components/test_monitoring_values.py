"""The monitoring component's Helm values and Alertmanager configuration, rendered under mocks."""

from __future__ import annotations

import json

from infra.helpers.charts import DCGM_EXPORTER, KUBE_PROMETHEUS_STACK, PUSHGATEWAY
from ml.core.identity import load_identity
from tests.infra.components.monitoring_render import EMAILS, ISSUER, SERVICE_MONITOR, SINK, release
from tests.support.pulumi_unit import KEY
from tests.support.rendering import Declared, by_type


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
