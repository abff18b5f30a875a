"""NodePools: valid against the upstream CRD, one per cluster.nodePools entry, tainted, labelled
as the add-ons and model pods expect, bounded by their limits, disrupted as the settings say."""

from __future__ import annotations

import copy
import dataclasses

import jsonschema
import pytest

from infra.components.cluster import device_plugin_values, pool_labels
from infra.components.karpenter import NODE_POOL_API, NODE_POOL_KIND
from infra.components.karpenter.node_pools import family_parts
from infra.components.monitoring.args import MonitoringArgs
from infra.helpers.labels import DEVICE_PLUGIN_LABEL, NODE_POOL_LABEL, WORKLOAD_LABEL
from infra.helpers.tags import cost_labels
from infra.policy.validators.node_pools import read_node_pool
from infra.settings import GPU_TAINT, GpuNodePool
from tests.infra.components.karpenter.schemas import as_object, crd_validator
from tests.infra.components.karpenter.stack import (
    NODE_POOL,
    bottlerocket,
    bottlerocket_settings,
    stack,
)
from tests.support.pulumi_unit import Declared, stack_settings

CASES = ["dev", "prod", "bottlerocket"]


def declared(name: str) -> Declared:
    return bottlerocket() if name == "bottlerocket" else stack(name)


def settings_of(name: str) -> list[GpuNodePool]:
    if name == "bottlerocket":
        return bottlerocket_settings().cluster.node_pools
    return stack_settings(name).cluster.node_pools


def node_pools(name: str) -> dict[str, dict]:
    return {r.inputs["metadata"]["name"]: r.inputs for r in declared(name).of_type(NODE_POOL)}


def requirement(spec: dict, key: str) -> dict:
    (found,) = [r for r in spec["template"]["spec"]["requirements"] if r["key"] == key]
    return found


@pytest.mark.parametrize("name", CASES)
def test_node_pools_match_the_upstream_crd(name: str) -> None:
    validator = crd_validator(NODE_POOL_KIND)
    for inputs in node_pools(name).values():
        validator.validate(as_object(NODE_POOL_KIND, NODE_POOL_API, inputs))


def test_the_crd_check_catches_a_broken_node_pool() -> None:
    inputs = copy.deepcopy(node_pools("dev")["gpu-inference"])
    inputs["spec"]["disruption"]["consolidateAfter"] = "five minutes"
    with pytest.raises(jsonschema.ValidationError):
        crd_validator(NODE_POOL_KIND).validate(as_object(NODE_POOL_KIND, NODE_POOL_API, inputs))


@pytest.mark.parametrize("name", CASES)
def test_one_pool_per_setting_tainted_and_labelled(name: str) -> None:
    pools = node_pools(name)
    labels = cost_labels(stack_settings("prod" if name == "prod" else "dev"))
    assert set(pools) == {p.name for p in settings_of(name)}
    for pool in settings_of(name):
        template = pools[pool.name]["spec"]["template"]
        assert template["spec"]["taints"] == [GPU_TAINT]
        node_labels = template["metadata"]["labels"]
        assert node_labels == pool_labels(pool, labels)
        assert labels.items() <= node_labels.items()
        assert node_labels[NODE_POOL_LABEL] == pool.name
        assert node_labels[WORKLOAD_LABEL] == pool.workload_type
        plugin = "builtin" if pool.ami_family == "Bottlerocket" else "daemonset"
        assert node_labels[DEVICE_PLUGIN_LABEL] == plugin
        # Label domains Karpenter keeps for itself (the CRD's rules) stay clear.
        domains = {k.split("/")[0] for k in node_labels if "/" in k}
        assert not {d for d in domains if d.endswith(("karpenter.sh", "karpenter.k8s.aws"))}
        assert "kubernetes.io/hostname" not in node_labels


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_requirements_admit_the_settings_instance_types_only(name: str) -> None:
    pools = node_pools(name)
    for pool in settings_of(name):
        spec = pools[pool.name]["spec"]
        family = requirement(spec, "karpenter.k8s.aws/instance-family")
        assert (family["operator"], family["values"]) == ("In", pool.instance_families)
        size = requirement(spec, "karpenter.k8s.aws/instance-size")
        assert size["values"] == pool.instance_sizes
        capacity = requirement(spec, "karpenter.sh/capacity-type")
        assert capacity["values"] == pool.capacity_types
        parts = [family_parts(f) for f in pool.instance_families]
        category = requirement(spec, "karpenter.k8s.aws/instance-category")
        assert set(category["values"]) == {c for c, _ in parts}
        generation = requirement(spec, "karpenter.k8s.aws/instance-generation")
        assert set(generation["values"]) == {g for _, g in parts}
        assert requirement(spec, "kubernetes.io/arch")["values"] == ["amd64"]
        assert requirement(spec, "kubernetes.io/os")["values"] == ["linux"]
        assert spec["weight"] == pool.weight


def test_instance_families_split_into_category_and_generation() -> None:
    assert family_parts("g4dn") == ("g", "4")
    assert family_parts("gr6") == ("gr", "6")
    assert family_parts("p4de") == ("p", "4")
    with pytest.raises(ValueError, match="instance family"):
        family_parts("xlarge")


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_limits_and_disruption_come_from_the_settings(name: str) -> None:
    pools = node_pools(name)
    for pool in settings_of(name):
        spec = pools[pool.name]["spec"]
        assert spec["limits"] == {
            "nvidia.com/gpu": str(pool.limits.gpus),
            "cpu": str(pool.limits.cpu),
            "memory": f"{pool.limits.memory_gib}Gi",
        }
        assert spec["disruption"] == {
            "consolidationPolicy": pool.disruption.consolidation_policy,
            "consolidateAfter": pool.disruption.consolidate_after,
            "budgets": [{"nodes": pool.disruption.budget}],
        }
        assert spec["template"]["spec"]["expireAfter"] == pool.disruption.expire_after
        # No grace period that would evict a do-not-disrupt training pod on expiry.
        assert "terminationGracePeriod" not in spec["template"]["spec"]
        # What the stack's policy pack reads of it: a GPU pool, tainted and bounded.
        read = read_node_pool({"spec": spec})
        assert read is not None and read.allows_gpus and read.gpu_tainted
        assert set(read.limits) == {"nvidia.com/gpu", "cpu", "memory"}


def matches(expressions: list[dict], labels: dict[str, str]) -> bool:
    return all(labels.get(e["key"]) in e["values"] for e in expressions)


@pytest.mark.parametrize("name", CASES)
def test_gpu_add_ons_and_model_pods_find_the_nodes_karpenter_launches(name: str) -> None:
    (term,) = device_plugin_values()["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    (field,) = [f for f in dataclasses.fields(MonitoringArgs) if f.name == "gpu_node_selector"]
    dcgm = field.default_factory()  # the DCGM exporter's node selector
    serving = stack_settings("dev").serving.gpu_node_selector
    pools = node_pools(name)
    for pool in settings_of(name):
        labels = pools[pool.name]["spec"]["template"]["metadata"]["labels"]
        # The device plugin DaemonSet lands on AL2023 nodes only (Bottlerocket has it built in).
        assert matches(term["matchExpressions"], labels) == (pool.ami_family == "AL2023")
        # DCGM's exporter on every GPU node; model pods on the inference pools.
        assert dcgm.items() <= labels.items()
        assert (serving.items() <= labels.items()) == (pool.workload_type == "inference")
