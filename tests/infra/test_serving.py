"""The serving component rendered under Pulumi's mocks and checked against the real API schemas."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from kubernetes_validate.utils import validate as validate_k8s
from pydantic import ValidationError

from infra import serving
from infra.serving import (
    ModelServing,
    RolloutsController,
    ServingArgs,
    ServingSettings,
    analysis_queries,
)
from ml.identity import COST_LABEL_KEYS, load_identity
from tests.infra.rendering import render

CRDS = Path(__file__).resolve().parents[1] / "data" / "crds"
K8S_VERSION = "1.33"
PROGRAM = {
    "environment": "dev",
    "model_name": "breast-cancer-classifier",
    "prometheus_url": "http://kube-prometheus-stack-prometheus.monitoring.svc:9090",
}
# The stack file's `serving` section as CI leaves it after shipping a model (camelCase keys).
SECTION = {
    "modelVersion": "20260101_abc123",
    "bentoTag": "breast-cancer-classifier:20260101_abc123",
    "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-template-dev/bentos:3f2a9c1",
    "clientNamespaces": ["ingress-nginx"],
}


def serving_args(**section: Any) -> ServingArgs:
    return ServingArgs(**PROGRAM, settings=ServingSettings.model_validate({**SECTION, **section}))


CORE_KINDS = {"Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"}
CORE_KINDS |= {"ServiceAccount", "Namespace"}


def render_serving(**overrides: Any) -> dict[str, dict[str, Any]]:
    """The component's Kubernetes objects by kind (Services by `Service/<name>`)."""
    args = serving_args(**overrides)

    def program() -> Any:
        labels = args.settings.service_monitor_labels
        controller = RolloutsController("argo-rollouts", args.environment, labels)
        return ModelServing("serving", args, after=[controller]).service_url

    objects: dict[str, dict[str, Any]] = {}
    for resource in render(program):
        inputs = resource.inputs
        kind = inputs.get("kind") or resource.typ.rsplit(":", 1)[-1]
        key = kind if kind != "Service" else f"Service/{inputs['metadata']['name']}"
        objects[key] = inputs
    return objects


@pytest.fixture(scope="module")
def cpu() -> dict[str, dict[str, Any]]:
    return render_serving()


@pytest.fixture(scope="module")
def gpu() -> dict[str, dict[str, Any]]:
    return render_serving(gpus=1)


CRD_FILES = {
    "Rollout": ("argoproj.io_rollouts.yaml", "v1alpha1"),
    "AnalysisTemplate": ("argoproj.io_analysistemplates.yaml", "v1alpha1"),
    "ServiceMonitor": ("monitoring.coreos.com_servicemonitors.yaml", "v1"),
}


@cache
def _crd_validator(kind: str) -> jsonschema.Draft202012Validator:
    filename, version_name = CRD_FILES[kind]
    crd = yaml.safe_load((CRDS / filename).read_text(encoding="utf-8"))
    assert crd["spec"]["names"]["kind"] == kind
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == version_name]
    return jsonschema.Draft202012Validator(version["schema"]["openAPIV3Schema"])


def _pod(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return objects["Rollout"]["spec"]["template"]


def _container(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (container,) = _pod(objects)["spec"]["containers"]
    return container


@pytest.mark.parametrize("kind", list(CRD_FILES))
def test_custom_resources_match_their_crd_schemas(cpu: dict, gpu: dict, kind: str) -> None:
    for objects in (cpu, gpu):
        _crd_validator(kind).validate(objects[kind])


def test_the_crd_schema_check_catches_a_wrong_rollout(cpu: dict) -> None:
    wrong = {**cpu["Rollout"], "spec": {**cpu["Rollout"]["spec"], "replicas": "two"}}
    with pytest.raises(jsonschema.ValidationError):
        _crd_validator("Rollout").validate(wrong)


def test_core_objects_and_the_pod_are_valid_kubernetes(cpu: dict, gpu: dict) -> None:
    for objects in (cpu, gpu):
        kinds = {key.split("/")[0] for key in objects}
        assert kinds >= CORE_KINDS
        for key, obj in objects.items():
            if key.split("/")[0] in CORE_KINDS:
                validate_k8s(obj, K8S_VERSION, strict=True)
        pod = {"apiVersion": "v1", "kind": "Pod", **_pod(objects)}
        pod["metadata"] = {**pod["metadata"], "name": "bento"}
        validate_k8s(pod, K8S_VERSION, strict=True)


def test_every_object_and_the_pods_carry_cost_and_model_labels(cpu: dict) -> None:
    expected = {
        **load_identity().cost_labels("dev"),
        "model-name": "breast-cancer-classifier",
        "model-version": "20260101_abc123",
    }
    labelled = [
        obj["metadata"]["labels"]
        for key, obj in cpu.items()
        if key not in {"ModelServing", "RolloutsController", "Release"}
    ]
    labelled.append(_pod(cpu)["metadata"]["labels"])
    assert len(labelled) == 12
    for labels in labelled:
        assert labels.items() >= expected.items()
    assert set(COST_LABEL_KEYS) <= set(expected)
    release_values = cpu["Release"]["values"]
    assert release_values["controller"]["podLabels"] == load_identity().cost_labels("dev")


def test_pods_run_non_root_read_only_without_privileges(cpu: dict) -> None:
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.container.generate import BENTO_HOME, BENTO_UID_GID

    pod_spec = _pod(cpu)["spec"]
    assert pod_spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": BENTO_UID_GID,
        "runAsGroup": BENTO_UID_GID,
        "fsGroup": BENTO_UID_GID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod_spec["automountServiceAccountToken"] is False
    container = _container(cpu)
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    # Every place BentoML writes at run time is an emptyDir.
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    multiproc = Path(BENTO_HOME) / Path(str(BentoMLContainer.prometheus_multiproc_dir.get())).name
    assert mounts == {"/tmp", str(multiproc)}
    assert {v["name"] for v in pod_spec["volumes"]} == {
        m["name"] for m in container["volumeMounts"]
    }
    assert {"name": "OMP_NUM_THREADS", "value": "1"} in container["env"]
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "1024Mi"},
        "limits": {"cpu": "1000m", "memory": "1024Mi"},
    }
    assert cpu["ServiceAccount"]["automountServiceAccountToken"] is False
    assert cpu["Namespace"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == (
        "restricted"
    )


def test_probes_use_bentoml_health_endpoints(cpu: dict) -> None:
    container = _container(cpu)
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/livez"
    assert container["ports"] == [{"name": "http", "containerPort": 3000, "protocol": "TCP"}]


def test_gpu_option_requests_gpus_tolerates_the_taint_and_picks_the_pool(
    cpu: dict, gpu: dict
) -> None:
    pod_spec = _pod(gpu)["spec"]
    resources = _container(gpu)["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == 1
    assert resources["requests"]["nvidia.com/gpu"] == 1
    assert pod_spec["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert pod_spec["nodeSelector"] == {"accelerator": "nvidia", "workload-type": "inference"}
    cpu_spec = _pod(cpu)["spec"]
    assert "tolerations" not in cpu_spec
    assert "nodeSelector" not in cpu_spec
    assert "nvidia.com/gpu" not in _container(cpu)["resources"]["limits"]


def test_pulumi_waits_for_a_healthy_rollout(cpu: dict) -> None:
    annotations = cpu["Rollout"]["metadata"]["annotations"]
    assert annotations["pulumi.com/waitFor"] == "jsonpath={.status.phase}=Healthy"
    assert annotations["pulumi.com/timeoutSeconds"] == "1800"


def test_canary_steps_gate_each_weight_on_the_analysis(cpu: dict) -> None:
    canary = cpu["Rollout"]["spec"]["strategy"]["canary"]
    assert canary["stableService"] == "breast-cancer-classifier"
    assert canary["canaryService"] == "breast-cancer-classifier-canary"
    assert {"Service/breast-cancer-classifier", "Service/breast-cancer-classifier-canary"} <= set(
        cpu
    )
    steps = canary["steps"]
    assert [next(iter(step)) for step in steps] == [
        "setWeight",
        "analysis",
        "setWeight",
        "analysis",
        "setWeight",
    ]
    assert [s["setWeight"] for s in steps if "setWeight" in s] == [10, 50, 100]
    template_name = cpu["AnalysisTemplate"]["metadata"]["name"]
    for step in (steps[1], steps[3]):
        assert step["analysis"]["templates"] == [{"templateName": template_name}]
        assert step["analysis"]["args"] == [
            {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}
        ]
    assert cpu["Rollout"]["spec"]["progressDeadlineAbort"] is True
    assert "replicas" not in cpu["Rollout"]["spec"]


def test_analysis_queries_prometheus_with_limits(cpu: dict) -> None:
    metrics = {m["name"]: m for m in cpu["AnalysisTemplate"]["spec"]["metrics"]}
    assert set(metrics) == {"error-ratio", "p95-latency"}
    for metric in metrics.values():
        assert metric["failureLimit"] == 1
        prometheus = metric["provider"]["prometheus"]
        assert prometheus["address"] == PROGRAM["prometheus_url"]
        assert 'rollouts_pod_template_hash="{{args.canary-hash}}"' in prometheus["query"]
    assert metrics["error-ratio"]["successCondition"].endswith("result[0] <= 0.01")
    assert metrics["p95-latency"]["successCondition"].endswith("result[0] <= 0.5")


def test_metric_names_are_the_ones_bentoml_exports() -> None:
    from bentoml._internal.configuration.helpers import get_default_config

    # `@bentoml.service` services load BentoML's version-2 configuration.
    namespace = get_default_config(2)["services"]["metrics"]["namespace"]
    assert f"{namespace}_request_total" == serving.REQUESTS_METRIC
    assert f"{namespace}_request_duration_seconds_bucket" == serving.LATENCY_METRIC


PROMTOOL_TEST = """
rule_files: []
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
{series}
    promql_expr_test:
      - expr: 'round({error_ratio}, 0.001)'
        eval_time: 10m
        exp_samples:
          - labels: '{{}}'
            value: 0.1
      - expr: 'round({latency}, 0.001)'
        eval_time: 10m
        exp_samples:
          - labels: '{{}}'
            value: 0.75
"""


@pytest.mark.skipif(not __import__("shutil").which("promtool"), reason="needs promtool")
def test_queries_compute_the_canary_error_ratio_and_p95(tmp_path: Path) -> None:
    """Canary pods answer 10% 5xx, probes and the stable pods must not count; p95 from buckets."""
    queries = analysis_queries(serving_args(), hash_arg="canary")
    base = 'namespace="serving", rollouts_pod_template_hash="{pod}", endpoint="{path}"'

    def series(metric: str, labels: str, per_minute: int) -> str:
        return f"      - series: '{metric}{{{labels}}}'\n        values: '0+{per_minute}x10'"

    rows = [
        series(
            serving.REQUESTS_METRIC,
            base.format(pod="canary", path="/predict") + ', http_response_code="200"',
            90,
        ),
        series(
            serving.REQUESTS_METRIC,
            base.format(pod="canary", path="/predict") + ', http_response_code="500"',
            10,
        ),
        # Probes to the canary and failures on the stable pods stay out of the ratio.
        series(
            serving.REQUESTS_METRIC,
            base.format(pod="canary", path="/livez") + ', http_response_code="200"',
            1000,
        ),
        series(
            serving.REQUESTS_METRIC,
            base.format(pod="stable", path="/predict") + ', http_response_code="500"',
            1000,
        ),
    ]
    # 100 requests a minute, 90 under 0.5 s and 10 under 1 s: the 95th is halfway into the
    # 0.5-1 s bucket (Prometheus interpolates linearly), 0.75 s.
    for le, count in (("0.5", 90), ("1.0", 100), ("+Inf", 100)):
        labels = base.format(pod="canary", path="/predict") + f', le="{le}"'
        rows.append(series(serving.LATENCY_METRIC, labels, count))
    test_file = tmp_path / "queries_test.yml"
    test_file.write_text(
        PROMTOOL_TEST.format(
            series="\n".join(rows),
            error_ratio=queries["error-ratio"].replace("'", "''"),
            latency=queries["p95-latency"].replace("'", "''"),
        ),
        encoding="utf-8",
    )
    result = subprocess.run(
        ["promtool", "test", "rules", str(test_file)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_service_monitor_scrapes_every_pod_once_with_version_labels(cpu: dict) -> None:
    monitor = cpu["ServiceMonitor"]
    assert monitor["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "breast-cancer-classifier",
        "app.kubernetes.io/component": "metrics",
    }
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["podTargetLabels"] == ["rollouts-pod-template-hash", "model-version"]
    assert monitor["spec"]["endpoints"][0]["honorLabels"] is True
    # Only the metrics Service carries the label the monitor selects.
    selected = [
        key
        for key, obj in cpu.items()
        if key.startswith("Service/")
        and obj["metadata"]["labels"]["app.kubernetes.io/component"] == "metrics"
    ]
    assert selected == ["Service/breast-cancer-classifier-metrics"]
    assert cpu["Service/breast-cancer-classifier-metrics"]["spec"]["clusterIP"] == "None"


def test_network_policy_admits_only_the_service_port_from_known_namespaces(cpu: dict) -> None:
    spec = cpu["NetworkPolicy"]["spec"]
    assert spec["policyTypes"] == ["Ingress"]
    (rule,) = spec["ingress"]
    assert rule["ports"] == [{"port": 3000, "protocol": "TCP"}]
    namespaces = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for peer in rule["from"]
        if "namespaceSelector" in peer
    }
    assert namespaces == {"monitoring", "ingress-nginx"}
    assert {"podSelector": {}} in rule["from"]


def test_hpa_scales_the_rollout_and_pdb_keeps_pods(cpu: dict) -> None:
    hpa = cpu["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "name": "breast-cancer-classifier",
    }
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)
    assert cpu["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1


def test_controller_chart_is_pinned(cpu: dict) -> None:
    release = cpu["Release"]
    assert release["chart"] == "argo-rollouts"
    assert release["repositoryOpts"] == {"repo": "https://argoproj.github.io/argo-helm"}
    assert release["version"] == serving.ROLLOUTS_CHART_VERSION
    assert release["version"].count(".") == 2


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("image", "has a space"),
        ("minReplicas", 0),
        ("modelVersion", "abc:def/1"),
        ("gpus", -1),
        ("surge", 2),
    ],
)
def test_a_bad_setting_names_its_key(key: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=key):
        ServingSettings.model_validate({**SECTION, key: value})


def test_inconsistent_settings_are_refused() -> None:
    with pytest.raises(ValidationError, match="maxReplicas must be >= minReplicas"):
        ServingSettings.model_validate({**SECTION, "minReplicas": 5, "maxReplicas": 2})
    with pytest.raises(ValidationError, match="image and modelVersion are set together"):
        ServingSettings.model_validate({"image": SECTION["image"]})


def test_no_service_before_a_model_is_shipped() -> None:
    settings = ServingSettings.model_validate({})
    assert not settings.shipped
    with pytest.raises(ValidationError, match="no model has been shipped"):
        ServingArgs(**PROGRAM, settings=settings)
    with pytest.raises(ValidationError, match="prometheus_url"):
        ServingArgs(
            **{**PROGRAM, "prometheus_url": "prometheus:9090"}, settings=serving_args().settings
        )
