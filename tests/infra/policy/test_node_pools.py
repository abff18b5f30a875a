"""The Karpenter NodePool guardrails: GPU pools tainted and GPU-limited, every pool limited.

Inputs are those of a `kubernetes:karpenter.sh/v1:NodePool` CustomResource (apiVersion, kind,
metadata, spec as in the upstream CRD), called as CrossGuard calls the validators.
"""

from __future__ import annotations

import copy
from typing import Any

import pulumi_kubernetes as k8s
import pytest
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_OBJECT_VALUE

from infra.policy import validators
from infra.settings.catalogue import GPU_INSTANCE_FAMILIES
from tests.infra.policy.crossguard import resource_args, violations
from tests.support.rendering import by_type, render

FAMILY = "karpenter.k8s.aws/instance-family"
CATEGORY = "karpenter.k8s.aws/instance-category"
GPU_COUNT = "karpenter.k8s.aws/instance-gpu-count"
GPU_MAKER = "karpenter.k8s.aws/instance-gpu-manufacturer"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
SPOT = {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]}
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
GPU_LIMITS = {"cpu": "64", "memory": "256Gi", "nvidia.com/gpu": 4}
CPU_LIMITS = {"cpu": 32, "memory": "128Gi"}


def requirement(key: str, operator: str, *values: str) -> dict[str, Any]:
    return {"key": key, "operator": operator, "values": list(values)}


def spec(
    requirements: list[dict[str, Any]],
    taints: list[dict[str, Any]] | None = None,
    limits: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    node: dict[str, Any] = {
        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "gpu"},
        "requirements": requirements,
    }
    if taints is not None:
        node["taints"] = taints
    body: dict[str, Any] = {"template": {"spec": node}, **extra}
    if limits is not None:
        body["limits"] = limits
    return body


def node_pool_inputs(body: dict[str, Any], name: str = "gpu-training") -> dict[str, Any]:
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": name, "labels": {"node-pool": name}},
        "spec": body,
    }


def check(body: dict[str, Any]) -> list[str]:
    """Both NodePool guardrails' messages for a NodePool of this spec."""
    args = resource_args(validators.NODE_POOL_TYPE, node_pool_inputs(body))
    return [
        message
        for validator in (validators.gpu_nodes_tainted, validators.node_pools_limited)
        for message, _ in violations(validator, args)
    ]


GPU_REQUIREMENTS = [requirement(FAMILY, "In", "g5", "g6"), SPOT]
GOOD_GPU_POOL = spec(GPU_REQUIREMENTS, [GPU_TAINT], GPU_LIMITS)
CPU_REQUIREMENTS = [requirement(CATEGORY, "In", "c", "m", "r"), SPOT]


def test_tainted_and_limited_gpu_node_pool_passes() -> None:
    assert check(GOOD_GPU_POOL) == []


@pytest.mark.parametrize(
    "taints",
    [
        None,
        [],
        [{**GPU_TAINT, "effect": "PreferNoSchedule"}],
        [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}],
    ],
    ids=["absent", "empty", "prefer", "other-key"],
)
def test_gpu_node_pool_without_the_gpu_taint_is_refused(
    taints: list[dict[str, Any]] | None,
) -> None:
    (message,) = check(spec(GPU_REQUIREMENTS, taints, GPU_LIMITS))
    assert "NodePool may launch GPU instances" in message
    assert "nvidia.com/gpu=true:NoSchedule" in message


def test_a_startup_taint_is_not_the_gpu_taint() -> None:
    # Startup taints are removed once the node is initialised: CPU pods would follow.
    (message,) = check(spec(GPU_REQUIREMENTS, [], GPU_LIMITS, startupTaints=[GPU_TAINT]))
    assert "lacks nvidia.com/gpu" in message
    startup = copy.deepcopy(GOOD_GPU_POOL)
    startup["template"]["spec"]["startupTaints"] = [GPU_TAINT]
    assert check(startup) == []


def test_gpu_node_pool_without_a_gpu_limit_is_refused() -> None:
    limits = {k: v for k, v in GPU_LIMITS.items() if k != "nvidia.com/gpu"}
    (message,) = check(spec(GPU_REQUIREMENTS, [GPU_TAINT], limits))
    assert message.startswith("NodePool limit nvidia.com/gpu is missing")
    assert 'spec.limits["nvidia.com/gpu"]' in message


@pytest.mark.parametrize("zero", [0, "0", "0Gi", -1, "abc"])
def test_gpu_limit_of_zero_or_nonsense_is_refused(zero: Any) -> None:
    (message,) = check(spec(GPU_REQUIREMENTS, [GPU_TAINT], {**GPU_LIMITS, "nvidia.com/gpu": zero}))
    assert message.startswith(f"NodePool limit nvidia.com/gpu is {zero!r}")


def test_cpu_node_pool_needs_no_gpu_taint_or_limit() -> None:
    assert check(spec(CPU_REQUIREMENTS, None, CPU_LIMITS)) == []


@pytest.mark.parametrize("missing", ["cpu", "memory"])
def test_every_node_pool_limits_cpu_and_memory(missing: str) -> None:
    for requirements, taints, limits in (
        (CPU_REQUIREMENTS, None, CPU_LIMITS),
        (GPU_REQUIREMENTS, [GPU_TAINT], GPU_LIMITS),
    ):
        partial = {k: v for k, v in limits.items() if k != missing}
        (message,) = check(spec(requirements, taints, partial))
        assert message.startswith(f"NodePool limit {missing} is missing")


@pytest.mark.parametrize("limits", [None, {}], ids=["absent", "empty"])
def test_node_pool_without_limits_is_refused(limits: dict[str, Any] | None) -> None:
    (cpu_message,) = check(spec(CPU_REQUIREMENTS, None, limits))
    assert cpu_message.startswith("NodePool has no limits")
    assert cpu_message.endswith("set spec.limits cpu and memory")
    (gpu_message,) = check(spec(GPU_REQUIREMENTS, [GPU_TAINT], limits))
    assert gpu_message.endswith("set spec.limits cpu and memory and nvidia.com/gpu")


# Requirements under which a NodePool may launch an NVIDIA instance of the catalogue.
ADMITS_GPUS = {
    "family-in": [requirement(FAMILY, "In", "m7i", "g6e")],
    "family-not-in-cpu": [requirement(FAMILY, "NotIn", "m5", "c5")],
    "category-g": [requirement(CATEGORY, "In", "g")],
    "category-p": [requirement(CATEGORY, "In", "c", "p")],
    "category-gr": [requirement(CATEGORY, "In", "gr")],
    "gpu-count-gt": [requirement(GPU_COUNT, "Gt", "0")],
    "gpu-count-gte": [requirement(GPU_COUNT, "Gte", "4")],
    "gpu-count-in": [requirement(GPU_COUNT, "In", "1")],
    "gpu-count-exists": [requirement(GPU_COUNT, "Exists")],
    "nvidia": [requirement(GPU_MAKER, "In", "nvidia")],
    "gpu-name": [requirement("karpenter.k8s.aws/instance-gpu-name", "In", "a10g")],
    "instance-type": [requirement(INSTANCE_TYPE, "In", "m6i.large", "g5.2xlarge")],
    # Nothing restricts the instance: every family may be launched, GPU ones too.
    "unrestricted": [SPOT, requirement("kubernetes.io/arch", "In", "amd64")],
    "no-requirements": [],
}
# Requirements that rule every NVIDIA instance out.
CPU_ONLY = {
    "category-cmr": CPU_REQUIREMENTS,
    "family-in-cpu": [requirement(FAMILY, "In", "m7i", "c7i")],
    "family-not-in-every-gpu": [requirement(FAMILY, "NotIn", *GPU_INSTANCE_FAMILIES)],
    "category-not-in-gpu": [requirement(CATEGORY, "NotIn", "g", "gr", "p")],
    "no-gpu-count": [requirement(GPU_COUNT, "DoesNotExist")],
    "gpu-count-lt-1": [requirement(GPU_COUNT, "Lt", "1")],
    "gpu-count-gt-8": [requirement(GPU_COUNT, "Gt", "8")],
    "not-nvidia": [requirement(GPU_MAKER, "NotIn", "nvidia")],
    "no-gpu-name": [requirement("karpenter.k8s.aws/instance-gpu-name", "DoesNotExist")],
    "instance-type-cpu": [requirement(INSTANCE_TYPE, "In", "m6i.large")],
    # One requirement ruling GPUs out is enough: requirements are ANDed.
    "gpu-count-then-cpu-family": [
        requirement(GPU_COUNT, "Gt", "0"),
        requirement(FAMILY, "In", "m7i"),
    ],
}


@pytest.mark.parametrize("requirements", ADMITS_GPUS.values(), ids=ADMITS_GPUS.keys())
def test_requirements_that_admit_gpu_instances_make_a_gpu_pool(
    requirements: list[dict[str, Any]],
) -> None:
    messages = check(spec(requirements, None, CPU_LIMITS))
    assert len(messages) == 2, messages
    assert "NodePool may launch GPU instances" in messages[0]
    assert messages[1].startswith("NodePool limit nvidia.com/gpu is missing")
    assert check(spec(requirements, [GPU_TAINT], GPU_LIMITS)) == []


@pytest.mark.parametrize("requirements", CPU_ONLY.values(), ids=CPU_ONLY.keys())
def test_requirements_that_rule_gpus_out_make_a_cpu_pool(
    requirements: list[dict[str, Any]],
) -> None:
    assert check(spec(requirements, None, CPU_LIMITS)) == []


def test_static_gpu_node_pool_is_refused_and_static_cpu_pool_passes() -> None:
    ((message, _),) = violations(
        validators.node_pools_limited,
        resource_args(
            validators.NODE_POOL_TYPE,
            node_pool_inputs(spec(GPU_REQUIREMENTS, [GPU_TAINT], {"nodes": 2}, replicas=2)),
        ),
    )
    assert message.startswith("static NodePool (spec.replicas) may launch GPU instances")
    # Karpenter allows only limits.nodes on a static pool; its replicas bound it.
    assert check(spec(CPU_REQUIREMENTS, None, {"nodes": 2}, replicas=2)) == []


@pytest.mark.parametrize(
    "body",
    [
        UNKNOWN_OBJECT_VALUE,
        {"template": {"spec": {"requirements": UNKNOWN_ARRAY_VALUE}}, "limits": CPU_LIMITS},
        {**spec(GPU_REQUIREMENTS, [GPU_TAINT]), "limits": UNKNOWN_OBJECT_VALUE},
    ],
    ids=["spec", "requirements", "limits"],
)
def test_node_pool_unknown_during_preview_is_judged_on_the_update(body: Any) -> None:
    args = resource_args(validators.NODE_POOL_TYPE, node_pool_inputs({}) | {"spec": body})
    assert violations(validators.gpu_nodes_tainted, args) == []
    assert violations(validators.node_pools_limited, args) == []


def test_other_kinds_are_not_node_pools() -> None:
    args = resource_args("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", {"spec": {}})
    assert violations(validators.node_pools_limited, args) == []
    assert violations(validators.gpu_nodes_tainted, args) == []


@pytest.mark.parametrize(
    ("quantity", "positive"),
    [
        (4, True),
        ("1000", True),
        ("512Gi", True),
        ("500m", True),
        ("1e3", True),
        ("+2", True),
        (0.5, True),
        (0, False),
        ("0", False),
        ("0.0Ti", False),
        ("-1", False),
        ("1GB", False),
        ("", False),
        (None, False),
        (True, False),
    ],
)
def test_kubernetes_quantities(quantity: Any, positive: bool) -> None:
    assert validators.positive_quantity(quantity) is positive


def test_a_declared_custom_resource_is_what_the_guardrails_read() -> None:
    """pulumi_kubernetes registers a CustomResource under the type token the policies match."""

    def program() -> None:
        for name, body in (("gpu", GOOD_GPU_POOL), ("open", spec([SPOT], None, CPU_LIMITS))):
            k8s.apiextensions.CustomResource(
                name,
                api_version="karpenter.sh/v1",
                kind="NodePool",
                metadata={"name": name},
                spec=body,
            )

    declared = by_type(render(program), validators.NODE_POOL_TYPE)
    assert [d.name for d in declared] == ["gpu", "open"]
    found = {
        d.name: [
            message
            for validator in (validators.gpu_nodes_tainted, validators.node_pools_limited)
            for message, _ in violations(validator, resource_args(d.typ, d.inputs))
        ]
        for d in declared
    }
    assert found["gpu"] == []
    assert len(found["open"]) == 2
