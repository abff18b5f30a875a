"""The runner scale sets: the chart's keys, the CRD's schema, and a runner pod that takes one GPU
of its pool, as a non-root user, and that Karpenter leaves alone while it runs."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest
from kubernetes_validate.utils import validate as validate_k8s

from infra.components.training import scale_set_name
from infra.components.training.names import MAX_SCALE_SET_NAME, RUNNER_SERVICE_ACCOUNT
from infra.helpers.labels import GPU_RESOURCE
from infra.settings import GPU_TAINT, Naming
from ml.core.identity import load_identity
from tests.infra.components.training.objects import (
    IMAGE,
    K8S_VERSION,
    PROJECT,
    rendered,
    restricted_violations,
    runner_set_schema,
    scale_set_values,
    stack_settings,
    undocumented,
)

VALUES_FILE = "gha-runner-scale-set-values.yaml"
# Pod templates, labels: checked by the Kubernetes and CRD schemas instead.
FREE_FORM = {"template", "listenerTemplate", "labels"}
LISTENER_IMAGE = "ghcr.io/actions/gha-runner-scale-set-controller:0.14.2"


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    (only,) = scale_set_values(rendered())
    return only


def runner_set(values: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The AutoscalingRunnerSet the chart's template makes of `values` (default container
    mode: the template's spec as given, `restartPolicy: Never` added)."""
    template = values["template"]
    return {
        "apiVersion": "actions.github.com/v1alpha1",
        "kind": "AutoscalingRunnerSet",
        "metadata": {
            "name": values["runnerScaleSetName"],
            "namespace": namespace,
            "labels": values["labels"],
        },
        "spec": {
            **{
                key: values[key]
                for key in (
                    "githubConfigUrl",
                    "githubConfigSecret",
                    "runnerScaleSetName",
                    "minRunners",
                    "maxRunners",
                    "listenerTemplate",
                )
            },
            "template": {
                "metadata": template["metadata"],
                "spec": {**template["spec"], "restartPolicy": "Never"},
            },
        },
    }


def runner_pod(values: dict[str, Any]) -> dict[str, Any]:
    template = values["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {**template["metadata"], "name": "runner"},
        "spec": {**template["spec"], "restartPolicy": "Never"},
    }


def test_every_value_is_a_key_the_chart_documents(values: dict[str, Any]) -> None:
    assert undocumented(values, VALUES_FILE, FREE_FORM) == []


def test_the_key_check_catches_a_misspelt_key(values: dict[str, Any]) -> None:
    wrong = {**values, "maxRunner": 3, "controllerServiceAccount": {"nmae": "x"}}
    assert undocumented(wrong, VALUES_FILE, FREE_FORM) == [
        "controllerServiceAccount.nmae",
        "maxRunner",
    ]


def test_the_runner_set_matches_the_crd_schema(values: dict[str, Any]) -> None:
    namespace = stack_settings("dev").training.namespace
    jsonschema.Draft202012Validator(runner_set_schema()).validate(runner_set(values, namespace))
    wrong = runner_set({**values, "maxRunners": "four"}, namespace)
    with pytest.raises(jsonschema.ValidationError, match="four"):
        jsonschema.Draft202012Validator(runner_set_schema()).validate(wrong)


def test_the_runner_pod_is_a_valid_pod(values: dict[str, Any]) -> None:
    pod = runner_pod(values)
    validate_k8s(pod, K8S_VERSION, strict=True)
    wrong = copy.deepcopy(pod)
    wrong["spec"]["containers"][0]["resource"] = wrong["spec"]["containers"][0].pop("resources")
    with pytest.raises(Exception, match="resource"):
        validate_k8s(wrong, K8S_VERSION, strict=True)


def test_a_runner_takes_one_gpu_of_its_pool_and_tolerates_its_taint(
    values: dict[str, Any],
) -> None:
    (pool,) = stack_settings("dev").cluster.pools_for("training")
    spec = values["template"]["spec"]
    (container,) = spec["containers"]
    assert container["name"] == "runner"
    assert container["image"] == IMAGE
    resources = container["resources"]
    assert resources["requests"][GPU_RESOURCE] == resources["limits"][GPU_RESOURCE] == 1
    assert spec["nodeSelector"] == {"workload-type": "training", "node-pool": pool.name}
    assert {**GPU_TAINT, "operator": "Equal"} in spec["tolerations"]


def test_a_runner_gets_the_settings_cpu_and_memory(values: dict[str, Any]) -> None:
    training = stack_settings("dev").training
    (container,) = values["template"]["spec"]["containers"]
    for amounts in container["resources"].values():
        assert amounts["cpu"] == f"{training.runner_cpu_millicores}m"
        assert amounts["memory"] == f"{training.runner_memory_mib}Mi"


def test_runner_pods_carry_the_cost_labels_and_are_never_disrupted(
    values: dict[str, Any],
) -> None:
    metadata = values["template"]["metadata"]
    cost = load_identity().cost_labels("dev")
    assert metadata["labels"] == {**cost, "workload": "training"}
    assert metadata["annotations"] == {"karpenter.sh/do-not-disrupt": "true"}
    assert values["labels"] == cost


def test_runner_and_listener_pods_are_non_root_and_restricted(values: dict[str, Any]) -> None:
    runner = values["template"]["spec"]
    assert runner["serviceAccountName"] == RUNNER_SERVICE_ACCOUNT
    assert runner["automountServiceAccountToken"] is False
    assert runner["securityContext"]["runAsUser"] != 0
    listener = values["listenerTemplate"]["spec"]
    assert restricted_violations(runner) == []
    assert restricted_violations(listener) == []
    rooted = copy.deepcopy(runner)
    rooted["securityContext"]["runAsUser"] = 0
    assert restricted_violations(rooted) == ["runner: may run as root"]


def test_the_listener_runs_on_the_system_pool_with_resources(values: dict[str, Any]) -> None:
    system = stack_settings("dev").cluster.system_pool.name
    spec = values["listenerTemplate"]["spec"]
    assert spec["nodeSelector"]["node-pool"] == system
    (container,) = spec["containers"]
    assert container["name"] == "listener"
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    # ARC merges the template into the listener pod it builds (image and command its own).
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {**values["listenerTemplate"]["metadata"], "name": "listener"},
        "spec": {
            **spec,
            "containers": [{**container, "image": LISTENER_IMAGE}],
        },
    }
    validate_k8s(pod, K8S_VERSION, strict=True)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_one_scale_set_per_training_pool_scaling_from_zero(stack: str) -> None:
    settings = stack_settings(stack)
    pools = settings.cluster.pools_for("training")
    found = {v["runnerScaleSetName"]: v for v in scale_set_values(rendered(stack=stack))}
    assert sorted(found) == sorted(scale_set_name(settings.naming, p.name) for p in pools)
    for pool in pools:
        values = found[scale_set_name(settings.naming, pool.name)]
        assert (values["minRunners"], values["maxRunners"]) == (0, pool.max_runners)
        assert values["githubConfigUrl"] == f"https://github.com/{settings.identity.repository}"


def test_scale_set_names_are_per_stack_and_fit_arcs_limit() -> None:
    naming = Naming(PROJECT, "dev")
    assert scale_set_name(naming, "gpu-training") == f"{PROJECT}-dev-gpu-training"
    assert scale_set_name(naming, "gpu-training") != scale_set_name(
        Naming(PROJECT, "prod"), "gpu-training"
    )
    long = Naming("a" * 32, "e" * 16)
    first, second = scale_set_name(long, "p" * 24), scale_set_name(long, "p" * 23 + "q")
    assert first == scale_set_name(long, "p" * 24)  # deterministic
    assert first != second
    assert max(len(first), len(second)) <= MAX_SCALE_SET_NAME
    assert first.startswith("a" * 32) and not first.endswith("-")
