"""Prediction logs and the drift CronJob, and its contract with `make publish` and
`python -m ml.monitoring.drift` against moto's S3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from kubernetes_validate.utils import validate as validate_k8s
from pydantic import ValidationError

from infra.components import serving
from infra.settings import ServingSettings
from ml.core.artifacts import DRIFT_MODULE, reference_key
from ml.core.prediction_log_layout import URL_ENV
from ml.release.publish import publish_reference
from tests.infra.components.serving.objects import (
    ACCESS,
    BUCKET,
    COMMITTED,
    K8S_VERSION,
    MODEL,
    PROGRAM,
    SECTION,
    VERSION,
    _container,
    _drift_pod,
    _pod,
    render_serving,
    serving_args,
)


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
