"""The controller's chart values: only keys the pinned chart knows, this cluster and queue, the
IRSA role, a small controller on the system pool."""

from __future__ import annotations

import pytest

from infra.components.karpenter.values import CONTROLLER_RESOURCES, SERVICE_ACCOUNT
from infra.helpers.labels import NODE_POOL_LABEL
from infra.helpers.tags import cost_labels
from tests.infra.components.karpenter.schemas import unknown_values
from tests.infra.components.karpenter.stack import load_yaml, release, stack
from tests.support.pulumi_unit import stack_settings

CASES = ["dev", "prod"]


def values(name: str) -> dict:
    return release(stack(name), "karpenter").inputs["values"]


@pytest.mark.parametrize("name", CASES)
def test_every_value_is_one_the_chart_knows(name: str) -> None:
    assert unknown_values(values(name), load_yaml("chart-values.yaml")) == []


def test_a_misspelt_or_mistyped_value_is_caught() -> None:
    defaults = load_yaml("chart-values.yaml")
    assert unknown_values({"settings": {"clusterNmae": "x"}}, defaults) == ["settings.clusterNmae"]
    assert unknown_values({"replica": 2}, defaults) == ["replica"]
    assert unknown_values({"replicas": "two"}, defaults) == ["replicas"]
    assert unknown_values({"controller": {"resource": {}}}, defaults) == ["controller.resource"]
    # Label and annotation maps hold the stack's own keys.
    assert (
        unknown_values({"podLabels": {"team": "ml"}, "nodeSelector": {"pool": "a"}}, defaults) == []
    )


@pytest.mark.parametrize("name", CASES)
def test_the_controller_serves_this_cluster_with_its_irsa_role(name: str) -> None:
    plan = stack(name)
    chart = values(name)
    naming = stack_settings(name).naming
    assert chart["settings"] == {
        "clusterName": naming.cluster,
        "clusterEndpoint": plan.values["endpoint"],
        "interruptionQueue": plan.one("aws:sqs/queue:Queue").inputs["name"],
    }
    account = chart["serviceAccount"]
    assert (account["create"], account["name"]) == (True, SERVICE_ACCOUNT)
    assert account["annotations"] == {"eks.amazonaws.com/role-arn": plan.values["roleArn"]}


@pytest.mark.parametrize(("name", "replicas"), [("dev", 1), ("prod", 2)])
def test_a_small_controller_on_the_system_pool(name: str, replicas: int) -> None:
    settings = stack_settings(name)
    chart = values(name)
    assert chart["nodeSelector"] == {
        "kubernetes.io/os": "linux",
        NODE_POOL_LABEL: settings.cluster.system_pool.name,
    }
    # One per system node at most (the chart spreads them over nodes): dev has a single one.
    assert settings.cluster.system_pool.desired_size >= chart["replicas"] == replicas
    assert chart["controller"]["resources"] == CONTROLLER_RESOURCES
    assert "cpu" not in CONTROLLER_RESOURCES["limits"]  # no throttling of its reconcile loops
    assert chart["podLabels"] == chart["additionalLabels"] == cost_labels(settings)


def test_the_charts_hardened_defaults_are_kept() -> None:
    """The chart runs the controller non-root with a read-only root filesystem and the
    RuntimeDefault seccomp profile, at system-cluster-critical priority, tolerating
    CriticalAddonsOnly and off the nodes it launches; the release overrides none of it."""
    defaults = load_yaml("chart-values.yaml")
    assert defaults["podSecurityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert defaults["priorityClassName"] == "system-cluster-critical"
    assert {"key": "CriticalAddonsOnly", "operator": "Exists"} in defaults["tolerations"]
    (term,) = defaults["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    assert term["matchExpressions"] == [
        {"key": "karpenter.sh/nodepool", "operator": "DoesNotExist"}
    ]
    chart = values("prod")
    kept = ("podSecurityContext", "priorityClassName", "tolerations", "affinity", "hostNetwork")
    assert not set(kept) & set(chart)
    assert "securityContext" not in chart["controller"]
