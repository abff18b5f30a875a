"""TrainingRunners as a whole: its namespaces, what waits for what, and its outputs."""

from __future__ import annotations

import pytest
from kubernetes_validate.utils import validate as validate_k8s

from infra.components.training import TRAINING_TYPE, TrainingRunnersArgs, scale_set_name
from infra.components.training.names import CONTROLLER_NAMESPACE
from ml.core.identity import load_identity
from tests.infra.components.training.objects import (
    K8S_VERSION,
    NAMESPACE,
    RELEASE,
    rendered,
    stack_settings,
    training_args,
)
from tests.support.rendering import plain

CORE_KINDS = {
    NAMESPACE: "Namespace",
    "kubernetes:core/v1:LimitRange": "LimitRange",
    "kubernetes:core/v1:ServiceAccount": "ServiceAccount",
    "kubernetes:core/v1:Secret": "Secret",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": "NetworkPolicy",
}


def test_both_namespaces_enforce_restricted_and_the_runners_get_container_defaults() -> None:
    namespaces = {
        plain(r.inputs)["metadata"]["name"]: plain(r.inputs)["metadata"]["labels"]
        for r in rendered().of_type(NAMESPACE)
    }
    runners = stack_settings("dev").training.namespace
    assert sorted(namespaces) == sorted([CONTROLLER_NAMESPACE, runners])
    cost = load_identity().cost_labels("dev")
    for labels in namespaces.values():
        assert labels == {**cost, "pod-security.kubernetes.io/enforce": "restricted"}
    (limits,) = rendered().of_type("kubernetes:core/v1:LimitRange")
    assert plain(limits.inputs)["metadata"]["namespace"] == runners


def test_nothing_connects_to_a_runner() -> None:
    (policy,) = rendered().of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    inputs = plain(policy.inputs)
    assert inputs["metadata"]["namespace"] == stack_settings("dev").training.namespace
    assert inputs["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}


def test_the_objects_are_valid_kubernetes() -> None:
    for registration in rendered().registrations:
        if registration.type in CORE_KINDS:
            validate_k8s(plain(registration.inputs), K8S_VERSION, strict=True)


def test_the_controller_waits_for_the_namespaces_and_the_sets_for_the_controller() -> None:
    declared = rendered()
    component = declared.one(TRAINING_TYPE)
    children = [r for r in declared.registrations if r.parent == component.urn]
    assert children and all(r.provider for r in children if r.type != TRAINING_TYPE)
    namespaces = {r.urn for r in declared.of_type(NAMESPACE)}
    controller = declared.one(RELEASE, "training-controller")
    assert namespaces <= set(controller.dependencies)
    account = declared.one("kubernetes:core/v1:ServiceAccount")
    for release in declared.of_type(RELEASE):
        if release is not controller:
            assert {controller.urn, account.urn} <= set(release.dependencies)


def test_the_scale_set_names_are_the_output() -> None:
    settings = stack_settings("prod")
    names = rendered(stack="prod").values["names"]
    assert names == {
        p.name: scale_set_name(settings.naming, p.name)
        for p in settings.cluster.pools_for("training")
    }
    released = {r.inputs["name"] for r in rendered(stack="prod").of_type(RELEASE)}
    assert set(names.values()) <= released


def test_only_training_pools_get_scale_sets() -> None:
    settings = stack_settings("dev")
    args = training_args(settings)
    inference = settings.cluster.pools_for("inference")
    assert inference
    with pytest.raises(ValueError, match=f"pools {inference[0].name} are no training pools"):
        TrainingRunnersArgs(**{**args.__dict__, "pools": [*args.pools, *inference]})
