"""The serving component rendered under Pulumi's mocks and checked against the real API schemas,
and the drift CronJob's contract with `make publish` and `python -m ml.monitoring.drift` against
moto's S3."""

from __future__ import annotations

import json
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pulumi
import pytest
import yaml
from kubernetes_validate.utils import validate as validate_k8s
from pydantic import ValidationError

from infra.components import serving
from infra.components.ci_access import DEPLOY_GROUP
from infra.components.serving import (
    ModelServing,
    RolloutsController,
    RolloutsControllerArgs,
    ServingAccess,
    ServingArgs,
    ServingPlatform,
    ServingPlatformArgs,
    analysis_queries,
)
from infra.helpers.charts import ARGO_ROLLOUTS
from infra.helpers.iam import Irsa
from infra.settings import Naming, ServingSettings
from ml.core.artifacts import DRIFT_MODULE, reference_key
from ml.core.identity import COST_LABEL_KEYS, load_identity
from ml.core.prediction_log_layout import URL_ENV
from ml.release.publish import publish_reference
from tests.support.paths import TEST_DATA
from tests.support.pulumi_unit import PROJECT, REPO_ROOT
from tests.support.rendering import ACCOUNT_ID, render

CRDS = TEST_DATA / "crds"
K8S_VERSION = "1.33"
MODEL = "breast-cancer-classifier"
VERSION = "20260101_abc123"
BUCKET = f"{PROJECT}-dev-artifacts-{ACCOUNT_ID}"
DIGEST = "sha256:" + "3f" * 32
PROGRAM = {
    "environment": "dev",
    "region": "eu-west-1",
    "model_name": MODEL,
    "prometheus_url": "http://kube-prometheus-stack-prometheus.monitoring.svc:9090",
    "prometheus_namespace": "monitoring",
    "service_monitor_labels": {"release": "kube-prometheus-stack"},
    "pushgateway_url": "http://prometheus-pushgateway.monitoring.svc:9091",
}
ACCESS = ServingAccess(
    bucket=BUCKET,
    model_role_arn=f"arn:aws:iam::{ACCOUNT_ID}:role/serving",
    drift_role_arn=f"arn:aws:iam::{ACCOUNT_ID}:role/drift",
)
# The committed stack file's `serving` section, as CI leaves it after shipping a model.
COMMITTED = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text(encoding="utf-8"))["config"][
    f"{PROJECT}:serving"
]
SECTION = {
    **COMMITTED,
    "minReplicas": 2,
    "maxReplicas": 6,
    "cpuMillicores": 500,
    "memoryMib": 1024,
    "maxErrorRatio": 0.01,
    "modelVersion": VERSION,
    "bentoTag": f"{MODEL}:{VERSION}",
    "image": f"{ACCOUNT_ID}.dkr.ecr.eu-west-1.amazonaws.com/{PROJECT}-dev/bentos@{DIGEST}",
    "clientNamespaces": ["ingress-nginx"],
}


def serving_args(**section: Any) -> ServingArgs:
    settings = ServingSettings.model_validate({**SECTION, **section})
    return ServingArgs(**PROGRAM, settings=settings, access=ACCESS)


CORE_KINDS = {"Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"}
CORE_KINDS |= {"ServiceAccount", "CronJob"}


def render_serving(**overrides: Any) -> dict[str, dict[str, Any]]:
    """The component's Kubernetes objects by kind (Services and accounts by `<kind>/<name>`)."""
    args = serving_args(**overrides)

    def program() -> Any:
        controller = RolloutsController(
            "argo-rollouts",
            RolloutsControllerArgs(args.environment, args.service_monitor_labels),
        )
        after = pulumi.ResourceOptions(depends_on=[controller])
        return ModelServing("model", args, after).service_url

    objects: dict[str, dict[str, Any]] = {}
    for resource in render(program):
        inputs = resource.inputs
        kind = inputs.get("kind") or resource.typ.rsplit(":", 1)[-1]
        named = kind in {"Service", "ServiceAccount"}
        objects[f"{kind}/{inputs['metadata']['name']}" if named else kind] = inputs
    return objects


@pytest.fixture(scope="module")
def cpu() -> dict[str, dict[str, Any]]:
    return render_serving()


@pytest.fixture(scope="module")
def gpu() -> dict[str, dict[str, Any]]:
    return render_serving(gpus=1)


ISSUER = "oidc.eks.eu-west-1.amazonaws.com/id/ABC"


@pytest.fixture(scope="module")
def platform() -> dict[str, list[dict[str, Any]]]:
    """The platform's resources, by type token."""
    args = ServingPlatformArgs(
        settings=serving_args().settings,
        environment="dev",
        model_name=MODEL,
        naming=Naming(PROJECT, "dev"),
        region="eu-west-1",
        irsa=Irsa(f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{ISSUER}", ISSUER),
        artifacts_bucket=BUCKET,
        artifacts_bucket_arn=f"arn:aws:s3:::{BUCKET}",
        key_arn=f"arn:aws:kms:eu-west-1:{ACCOUNT_ID}:key/stack",
        deploy_namespaces=["serving"],
        deploy_group=DEPLOY_GROUP,
    )
    found: dict[str, list[dict[str, Any]]] = {}
    for resource in render(lambda: ServingPlatform("serving-platform", args) and None):
        found.setdefault(resource.typ, []).append({**resource.inputs, "__name": resource.name})
    return found


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


def _drift_pod(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return objects["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]


@pytest.mark.parametrize("kind", list(CRD_FILES))
def test_custom_resources_match_their_crd_schemas(cpu: dict, gpu: dict, kind: str) -> None:
    for objects in (cpu, gpu):
        _crd_validator(kind).validate(objects[kind])


def test_the_crd_schema_check_catches_a_wrong_rollout(cpu: dict) -> None:
    wrong = {**cpu["Rollout"], "spec": {**cpu["Rollout"]["spec"], "replicas": "two"}}
    with pytest.raises(jsonschema.ValidationError):
        _crd_validator("Rollout").validate(wrong)


def test_core_objects_and_the_pods_are_valid_kubernetes(cpu: dict, gpu: dict) -> None:
    for objects in (cpu, gpu):
        kinds = {key.split("/")[0] for key in objects}
        assert kinds >= CORE_KINDS
        for key, obj in objects.items():
            if key.split("/")[0] in CORE_KINDS:
                validate_k8s(obj, K8S_VERSION, strict=True)
        for template in (_pod(objects), _drift_pod(objects)):
            pod = {"apiVersion": "v1", "kind": "Pod", **template}
            pod["metadata"] = {**pod["metadata"], "name": "bento"}
            validate_k8s(pod, K8S_VERSION, strict=True)


def test_a_broken_cronjob_fails_the_schema(cpu: dict) -> None:
    wrong = json.loads(json.dumps(cpu["CronJob"]))
    wrong["spec"]["jobTemplate"]["spec"]["backoffLimit"] = "never"
    with pytest.raises(Exception, match="backoffLimit"):
        validate_k8s(wrong, K8S_VERSION, strict=True)


def test_platform_objects_are_valid_kubernetes(platform: dict) -> None:
    for token in (
        "kubernetes:core/v1:Namespace",
        "kubernetes:core/v1:LimitRange",
        "kubernetes:rbac.authorization.k8s.io/v1:Role",
        "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
    ):
        (obj,) = platform[token]
        obj = {k: v for k, v in obj.items() if k != "__name"}
        validate_k8s(obj, K8S_VERSION, strict=True)
        assert load_identity().cost_labels("dev").items() <= obj["metadata"]["labels"].items()


def test_every_object_and_the_pods_carry_cost_and_model_labels(cpu: dict) -> None:
    expected = {
        **load_identity().cost_labels("dev"),
        "model-name": MODEL,
        "model-version": VERSION,
    }
    labelled = [
        obj["metadata"]["labels"]
        for key, obj in cpu.items()
        if key not in {"ModelServing", "RolloutsController", "Release"}
    ]
    labelled += [_pod(cpu)["metadata"]["labels"], _drift_pod(cpu)["metadata"]["labels"]]
    labelled.append(cpu["CronJob"]["spec"]["jobTemplate"]["metadata"]["labels"])
    assert len(labelled) == 15
    for labels in labelled:
        assert labels.items() >= expected.items()
    assert set(COST_LABEL_KEYS) <= set(expected)
    release_values = cpu["Release"]["values"]
    assert release_values["controller"]["podLabels"] == load_identity().cost_labels("dev")


def test_pods_run_non_root_read_only_without_privileges(cpu: dict) -> None:
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.container.generate import BENTO_HOME, BENTO_UID_GID

    for template in (_pod(cpu), _drift_pod(cpu)):
        pod_spec = template["spec"]
        assert pod_spec["securityContext"] == {
            "runAsNonRoot": True,
            "runAsUser": BENTO_UID_GID,
            "runAsGroup": BENTO_UID_GID,
            "fsGroup": BENTO_UID_GID,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        (container,) = pod_spec["containers"]
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        }
        assert {v["name"] for v in pod_spec["volumes"]} == {
            m["name"] for m in container["volumeMounts"]
        }
        assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}
    container = _container(cpu)
    # Every place BentoML writes at run time is an emptyDir.
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    multiproc = Path(BENTO_HOME) / Path(str(BentoMLContainer.prometheus_multiproc_dir.get())).name
    assert mounts == {"/tmp", str(multiproc)}
    assert {"name": "OMP_NUM_THREADS", "value": "1"} in container["env"]
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "1024Mi"},
        "limits": {"cpu": "1000m", "memory": "1024Mi"},
    }
    for key in (f"ServiceAccount/{MODEL}", f"ServiceAccount/{MODEL}-drift"):
        assert cpu[key]["automountServiceAccountToken"] is False


def test_probes_use_bentoml_health_endpoints(cpu: dict) -> None:
    container = _container(cpu)
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/livez"
    assert container["ports"] == [{"name": "http", "containerPort": 3000, "protocol": "TCP"}]


def test_gpu_option_requests_gpus_tolerates_the_taint_and_picks_the_pool(
    cpu: dict, gpu: dict
) -> None:
    from infra.components.cluster import pool_labels
    from tests.support.pulumi_unit import stack_settings

    pod_spec = _pod(gpu)["spec"]
    resources = _container(gpu)["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == 1
    assert resources["requests"]["nvidia.com/gpu"] == 1
    assert pod_spec["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    # The selector matches the labels infra/components/cluster puts on the stacks' GPU nodes.
    for stack in ("dev", "prod"):
        for pool in stack_settings(stack).cluster.gpu_pools:
            assert pod_spec["nodeSelector"].items() <= pool_labels(pool, {}).items()
    cpu_spec = _pod(cpu)["spec"]
    assert "tolerations" not in cpu_spec
    assert "nodeSelector" not in cpu_spec
    assert "nvidia.com/gpu" not in _container(cpu)["resources"]["limits"]
    # The drift check needs no GPU, whatever the model does.
    assert "nodeSelector" not in _drift_pod(gpu)["spec"]


def test_pulumi_waits_for_a_healthy_rollout(cpu: dict) -> None:
    annotations = cpu["Rollout"]["metadata"]["annotations"]
    assert annotations["pulumi.com/waitFor"] == "jsonpath={.status.phase}=Healthy"
    assert annotations["pulumi.com/timeoutSeconds"] == "1800"


def test_canary_steps_gate_each_weight_on_the_analysis(cpu: dict) -> None:
    canary = cpu["Rollout"]["spec"]["strategy"]["canary"]
    assert canary["stableService"] == MODEL
    assert canary["canaryService"] == f"{MODEL}-canary"
    assert {f"Service/{MODEL}", f"Service/{MODEL}-canary"} <= set(cpu)
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
        "app.kubernetes.io/name": MODEL,
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
    assert selected == [f"Service/{MODEL}-metrics"]
    assert cpu[f"Service/{MODEL}-metrics"]["spec"]["clusterIP"] == "None"


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
        "name": MODEL,
    }
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)
    assert cpu["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1


def test_controller_chart_is_pinned(cpu: dict) -> None:
    release = cpu["Release"]
    assert release["chart"] == "argo-rollouts"
    assert release["repositoryOpts"] == {"repo": "https://argoproj.github.io/argo-helm"}
    assert release["version"] == ARGO_ROLLOUTS.version
    assert release["version"].count(".") == 2


# --- Prediction logs and the drift CronJob ------------------------------------------------------


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_model_pods_log_requests_to_the_artifacts_bucket(cpu: dict) -> None:
    env = _env(_container(cpu))
    assert env[URL_ENV] == f"s3://{BUCKET}/predictions"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert _pod(cpu)["spec"]["serviceAccountName"] == MODEL
    assert cpu[f"ServiceAccount/{MODEL}"]["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": ACCESS.model_role_arn
    }


def test_drift_cronjob_checks_the_logged_requests_every_hour(cpu: dict) -> None:
    spec = cpu["CronJob"]["spec"]
    assert spec["schedule"] == COMMITTED["driftSchedule"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["jobTemplate"]["spec"]["backoffLimit"] == 0
    pod = _drift_pod(cpu)["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == f"{MODEL}-drift"
    assert cpu[f"ServiceAccount/{MODEL}-drift"]["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": ACCESS.drift_role_arn
    }
    (container,) = pod["containers"]
    # The model's own image holds the ml package; its sources are the working directory.
    assert container["image"] == SECTION["image"]
    assert container["workingDir"] == serving.BENTO_SRC
    command = container["command"]
    assert command[:3] == ["python", "-m", DRIFT_MODULE]
    options = dict(zip(command[3::2], command[4::2], strict=False))
    assert options["--current"] == f"s3://{BUCKET}/predictions"
    assert options["--reference"] == f"s3://{BUCKET}/{reference_key(MODEL, VERSION)}"
    assert options["--hours"] == str(COMMITTED["driftWindowHours"])
    assert options["--pushgateway"] == PROGRAM["pushgateway_url"]
    assert options["--out"].startswith("/tmp/")
    assert command[-1] == "--dispatch"
    # A verdict, drift or not, exits 0: a failed job (backoffLimit 0) means a broken check.
    assert "--fail-on-drift" not in command


def test_the_dispatch_token_is_a_read_only_file_not_an_environment_variable(cpu: dict) -> None:
    from ml.monitoring import dispatch

    pod = _drift_pod(cpu)["spec"]
    (container,) = pod["containers"]
    assert not [e for e in container["env"] if "valueFrom" in e]
    assert not set(dispatch.TOKEN_ENVS) & {e["name"] for e in container["env"]}
    (volume,) = [v for v in pod["volumes"] if "secret" in v]
    # The GitHub token is optional: without it the job prints the dispatch command instead.
    assert volume["secret"] == {
        "secretName": "drift-dispatch",
        "optional": True,
        "defaultMode": 0o400,
        "items": [{"key": "token", "path": "token"}],
    }
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    # The variable ml.monitoring.dispatch reads names the mounted key.
    assert _env(container)[dispatch.TOKEN_FILE_ENV] == f"{mount['mountPath']}/token"


def test_the_pods_get_no_api_token_but_keep_their_aws_role(cpu: dict, gpu: dict) -> None:
    # Nothing in the pods calls the Kubernetes API. AWS credentials come from IRSA's projected
    # token, which the EKS pod identity webhook mounts from the account's role-arn annotation
    # whatever automountServiceAccountToken says.
    roles = {MODEL: ACCESS.model_role_arn, f"{MODEL}-drift": ACCESS.drift_role_arn}
    for objects in (cpu, gpu):
        for template in (_pod(objects), _drift_pod(objects)):
            spec = template["spec"]
            assert spec["automountServiceAccountToken"] is False
            account = objects[f"ServiceAccount/{spec['serviceAccountName']}"]
            assert account["automountServiceAccountToken"] is False
            assert account["metadata"]["annotations"] == {
                "eks.amazonaws.com/role-arn": roles[spec["serviceAccountName"]]
            }
            pod = {"apiVersion": "v1", "kind": "Pod", **template}
            validate_k8s({**pod, "metadata": {**pod["metadata"], "name": "p"}}, K8S_VERSION, True)


WORKLOAD_KINDS = {"Pod", "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Rollout"}


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    if obj["kind"] == "Pod":
        return obj["spec"]
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def _covered(resources: dict[str, Any], defaults: list[dict[str, Any]]) -> bool:
    """Whether a container's cpu and memory requests and limits are set, by itself or by a
    LimitRange of its namespace."""
    for given, default in (("requests", "defaultRequest"), ("limits", "default")):
        for resource in ("cpu", "memory"):
            if resource not in resources.get(given, {}) and not any(
                resource in item.get(default, {}) for item in defaults
            ):
                return False
    return True


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_container_in_the_plan_has_requests_and_limits(stack: str) -> None:
    from tests.support.plans import plan_json

    objects = [
        r["inputs"] for r in plan_json(stack)["resources"] if r["type"].startswith("kubernetes:")
    ]
    defaults: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        if obj.get("kind") == "LimitRange":
            items = [i for i in obj["spec"]["limits"] if i["type"] == "Container"]
            defaults.setdefault(obj["metadata"]["namespace"], []).extend(items)
    checked = []
    for obj in objects:
        if obj.get("kind") not in WORKLOAD_KINDS:
            continue
        spec = _pod_spec(obj)
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            where = f"{obj['kind']}/{obj['metadata']['name']} {container['name']}"
            namespace = obj["metadata"].get("namespace", "default")
            assert _covered(container.get("resources", {}), defaults.get(namespace, [])), where
            checked.append(where)
    assert len(checked) >= 2, checked  # the model's Rollout and the drift CronJob at least
    # The serving namespace gives a container without resources of its own some.
    assert _covered({}, defaults["serving"])


def test_the_drift_job_has_a_cpu_limit(cpu: dict) -> None:
    (container,) = _drift_pod(cpu)["spec"]["containers"]
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "512Mi"},
        "limits": {"cpu": "1000m", "memory": "1Gi"},
    }


def test_the_drift_job_runs_the_module_its_image_holds() -> None:
    # An image built before the packages holds ml/drift.py: the stack records that with the image.
    assert serving_args().settings.drift_entrypoint == DRIFT_MODULE
    flat = render_serving(driftModule="ml.drift")
    (container,) = _drift_pod(flat)["spec"]["containers"]
    assert container["command"][:3] == ["python", "-m", "ml.drift"]
    with pytest.raises(ValidationError, match="driftModule"):
        ServingSettings.model_validate({**SECTION, "driftModule": "ml/drift.py"})


def test_the_drift_cli_accepts_the_cronjob_command(cpu: dict) -> None:
    from ml.monitoring.drift import _parser

    (container,) = _drift_pod(cpu)["spec"]["containers"]
    parsed = _parser().parse_args(container["command"][3:])
    assert parsed.dispatch and parsed.hours == COMMITTED["driftWindowHours"]


def test_published_training_rows_are_the_reference_the_job_reads(
    cpu: dict, aws_env: str, tmp_path: Path
) -> None:
    """`make publish` puts the rows where the CronJob's --reference points; ml.monitoring.drift
    reads them."""
    from ml.core.features import FEATURE_NAMES, TARGET
    from ml.monitoring.drift import load_reference

    rows = tmp_path / "train.csv"
    header = ",".join(f'"{name}"' for name in (*FEATURE_NAMES, TARGET))
    rows.write_text(header + "\n" + ",".join(["1.0"] * len(FEATURE_NAMES)) + ",1\n")
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    assert publish_reference(BUCKET, MODEL, VERSION, rows, s3) is True
    assert publish_reference(BUCKET, MODEL, VERSION, rows, s3) is False  # never overwritten
    (container,) = _drift_pod(cpu)["spec"]["containers"]
    command = container["command"]
    reference = command[command.index("--reference") + 1]
    sample = load_reference(reference)
    assert len(sample.features) == 1
    assert sample.classes is not None and list(sample.classes) == ["benign"]


# --- What the platform gives the pods and the deploy role ---------------------------------------


def _statements(platform: dict, purpose: str) -> dict[str, dict[str, Any]]:
    """The statements of the platform's inline policy `serving-platform-<purpose>`."""
    (policy,) = [
        p
        for p in platform["aws:iam/rolePolicy:RolePolicy"]
        if p["__name"] == f"serving-platform-{purpose}"
    ]
    return {s["Sid"]: s for s in json.loads(policy["policy"])["Statement"]}


def _trust_subjects(platform: dict) -> list[str]:
    return [
        subject
        for role in platform["aws:iam/role:Role"]
        for statement in json.loads(role["assumeRolePolicy"])["Statement"]
        for subject in statement["Condition"]["StringEquals"][f"{ISSUER}:sub"]
    ]


def test_pods_roles_trust_exactly_their_service_accounts(platform: dict, cpu: dict) -> None:
    accounts = {
        f"system:serviceaccount:serving:{key.split('/', 1)[1]}"
        for key in cpu
        if key.startswith("ServiceAccount/")
    }
    assert sorted(_trust_subjects(platform)) == sorted(accounts)


def test_model_pods_only_write_logs_and_the_job_only_reads(platform: dict) -> None:
    bucket = f"arn:aws:s3:::{BUCKET}"
    model = _statements(platform, "model")
    assert model["WritePredictionLogs"]["Action"] == "s3:PutObject"
    assert model["WritePredictionLogs"]["Resource"] == f"{bucket}/predictions/*"
    drift = _statements(platform, "drift")
    assert drift["ReadLogsAndReferences"]["Action"] == "s3:GetObject"
    assert drift["ReadLogsAndReferences"]["Resource"] == [
        f"{bucket}/predictions/*",
        f"{bucket}/reference/*",
    ]
    assert drift["ListLogsAndReferences"]["Condition"] == {
        "StringLike": {"s3:prefix": ["predictions/*", "reference/*"]}
    }
    for granted in (model, drift):
        key = granted["StackKeyThroughS3"]
        assert key["Condition"] == {
            "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
        }
        actions = [a for s in granted.values() for a in _listed(s["Action"])]
        assert not [a for a in actions if "Delete" in a or a.endswith("*")]


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def _plural(kind: str) -> str:
    return kind.lower()[:-1] + "ies" if kind.endswith("y") else kind.lower() + "s"


def test_the_deploy_role_may_change_exactly_what_model_serving_declares(
    platform: dict, cpu: dict
) -> None:
    (role,) = platform["kubernetes:rbac.authorization.k8s.io/v1:Role"]
    writable = {
        (group, resource)
        for rule in role["rules"]
        if "create" in rule["verbs"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    declared = {
        (obj["apiVersion"].rpartition("/")[0], _plural(obj["kind"]))
        for key, obj in cpu.items()
        if key not in {"Release", "ModelServing", "RolloutsController"}
    }
    assert declared == writable
    (binding,) = platform["kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"]
    assert binding["subjects"] == [
        {"kind": "Group", "name": DEPLOY_GROUP, "apiGroup": "rbac.authorization.k8s.io"}
    ]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    (namespace,) = platform["kubernetes:core/v1:Namespace"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


# --- Settings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("image", "has a space"),
        ("minReplicas", 0),
        ("modelVersion", "abc:def/1"),
        ("gpus", -1),
        ("surge", 2),
        ("driftSchedule", "every hour"),
        ("driftWindowHours", 0),
    ],
)
def test_a_bad_setting_names_its_key(key: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=key):
        ServingSettings.model_validate({**SECTION, key: value})


def test_images_are_taken_by_digest_only() -> None:
    registry = f"{ACCOUNT_ID}.dkr.ecr.eu-west-1.amazonaws.com/{PROJECT}-dev/bentos"
    digest = f"{registry}@sha256:{'ab' * 32}"
    assert ServingSettings.model_validate({**SECTION, "image": digest}).image == digest
    for moving in (f"{registry}:3f2a9c1", f"{registry}:latest", registry, f"{digest[:-1]}"):
        with pytest.raises(ValidationError, match=r"image\n.*is not an image by digest"):
            ServingSettings.model_validate({**SECTION, "image": moving})
    # Through the stack file the key is named in full (tests/infra/settings: `serving.image`).


def test_inconsistent_settings_are_refused() -> None:
    with pytest.raises(ValidationError, match="maxReplicas must be >= minReplicas"):
        ServingSettings.model_validate({**SECTION, "minReplicas": 5, "maxReplicas": 2})
    with pytest.raises(ValidationError, match="image, modelVersion and bentoTag are set together"):
        ServingSettings.model_validate({**COMMITTED, "image": SECTION["image"]})
    with pytest.raises(ValidationError, match="modelVersion must be the version of bentoTag"):
        ServingSettings.model_validate({**SECTION, "modelVersion": "other"})


def test_no_service_before_a_model_is_shipped() -> None:
    settings = ServingSettings.model_validate(COMMITTED)
    assert not settings.shipped
    with pytest.raises(ValueError, match="no model has been shipped"):
        ServingArgs(**PROGRAM, settings=settings, access=ACCESS)
    with pytest.raises(ValueError, match="prometheus_url"):
        ServingArgs(
            **{**PROGRAM, "prometheus_url": "prometheus:9090"},
            settings=serving_args().settings,
            access=ACCESS,
        )
