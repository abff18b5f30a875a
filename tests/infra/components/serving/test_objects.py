"""The serving component's objects, checked against the Kubernetes and CRD schemas."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jsonschema
import pytest
import yaml
from kubernetes_validate.utils import validate as validate_k8s

from ml.core.identity import COST_LABEL_KEYS, load_identity
from tests.infra.components.serving.objects import (
    CORE_KINDS,
    K8S_VERSION,
    MODEL,
    VERSION,
    _container,
    _drift_pod,
    _pod,
)
from tests.support.paths import TEST_DATA

CRDS = TEST_DATA / "crds"


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

    from ml.release import image_build

    # The image `make image` builds runs as the user and home the pods expect.
    assert (BENTO_UID_GID, BENTO_HOME.rstrip("/")) == (image_build.UID, image_build.HOME)
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
        for pool in stack_settings(stack).cluster.pools_for("inference"):
            assert pod_spec["nodeSelector"].items() <= pool_labels(pool, {}).items()
    cpu_spec = _pod(cpu)["spec"]
    assert "tolerations" not in cpu_spec
    assert "nodeSelector" not in cpu_spec
    assert "nvidia.com/gpu" not in _container(cpu)["resources"]["limits"]
    # The drift check needs no GPU, whatever the model does.
    assert "nodeSelector" not in _drift_pod(gpu)["spec"]


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
