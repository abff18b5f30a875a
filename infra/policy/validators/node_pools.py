"""Karpenter NodePools: what they may launch, and every one bounded by its limits (mandatory).

A NodePool launches any EC2 instance its requirements admit, so one with no requirement on the
instance family, category, type or GPUs may launch GPU instances too: it counts as a GPU pool
until one of its requirements rules every NVIDIA instance of the settings catalogue out.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs
from pulumi_policy.proxy import UnknownValueError

from infra.helpers.labels import GPU_RESOURCE
from infra.policy.validators.resource_types import NODE_POOL_TYPE
from infra.settings.catalogue import GPU_INSTANCE_FAMILIES

# The values each well-known label takes on the NVIDIA instances of the catalogue. Karpenter
# derives the category from the family's leading letters (g5 -> g, gr6 -> gr, p4d -> p).
_GPU_LABEL_VALUES: dict[str, frozenset[str]] = {
    "karpenter.k8s.aws/instance-family": frozenset(GPU_INSTANCE_FAMILIES),
    "karpenter.k8s.aws/instance-category": frozenset(
        re.sub(r"\d.*$", "", family) for family in GPU_INSTANCE_FAMILIES
    ),
    "node.kubernetes.io/instance-type": frozenset(
        f"{family}.{size}" for family, sizes in GPU_INSTANCE_FAMILIES.items() for size in sizes
    ),
    "karpenter.k8s.aws/instance-gpu-count": frozenset(
        str(count) for sizes in GPU_INSTANCE_FAMILIES.values() for count in sizes.values()
    ),
    "karpenter.k8s.aws/instance-gpu-manufacturer": frozenset({"nvidia"}),
}
# Labels only GPU instances carry, whatever their value.
_GPU_ONLY_LABELS = frozenset(
    {"karpenter.k8s.aws/instance-gpu-name", "karpenter.k8s.aws/instance-gpu-memory"}
)
_COMPARISONS: dict[str, Callable[[int, int], bool]] = {
    "Gt": operator.gt,
    "Gte": operator.ge,
    "Lt": operator.lt,
    "Lte": operator.le,
}
# Taint effects that keep pods without the toleration off the node.
_KEEP_OFF = frozenset({"NoSchedule", "NoExecute"})
# A Kubernetes quantity: a decimal number, then a binary or decimal suffix or an exponent.
_QUANTITY = re.compile(
    r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?(?:\d+(?:\.\d*)?|\.\d+))?$"
)
BOUNDED_RESOURCES = ("cpu", "memory")


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class NodePool:
    """What the checks read of a NodePool's inputs."""

    requirements: tuple[Requirement, ...]
    taints: tuple[tuple[str, str], ...]
    limits: Mapping[str, Any]
    static: bool  # `spec.replicas` set: a fixed number of nodes, which allows only limits.nodes

    @property
    def allows_gpus(self) -> bool:
        return all(admits_gpu_instances(r) for r in self.requirements)

    @property
    def gpu_tainted(self) -> bool:
        return any(key == GPU_RESOURCE and effect in _KEEP_OFF for key, effect in self.taints)


def admits_gpu_instances(requirement: Requirement) -> bool:
    """Whether an instance of the catalogue's NVIDIA families can meet this requirement."""
    key, op, values = requirement.key, requirement.operator, requirement.values
    if op == "DoesNotExist":
        # Every instance carries the well-known labels; GPU ones also the GPU labels.
        return key not in _GPU_LABEL_VALUES and key not in _GPU_ONLY_LABELS
    if key in _GPU_ONLY_LABELS or key not in _GPU_LABEL_VALUES or op == "Exists":
        return True
    gpu_values = _GPU_LABEL_VALUES[key]
    if op == "In":
        return bool(gpu_values & set(values))
    if op == "NotIn":
        return bool(gpu_values - set(values))
    compare = _COMPARISONS.get(op)
    if compare is None or len(values) != 1 or not values[0].isdigit():
        return True  # not a form Karpenter accepts: it never reaches a node
    # A label that is not an integer (a family name) never compares true.
    return any(compare(int(v), int(values[0])) for v in gpu_values if v.isdigit())


def _strings(values: Sequence[Any] | None) -> tuple[str, ...]:
    return tuple(str(v) for v in values or ())


def read_node_pool(props: Mapping[str, Any]) -> NodePool | None:
    """The NodePool's requirements, taints and limits; None while any is unknown (preview)."""
    try:
        spec = props.get("spec") or {}
        node_spec = (spec.get("template") or {}).get("spec") or {}
        requirements = tuple(
            Requirement(str(r.get("key")), str(r.get("operator")), _strings(r.get("values")))
            for r in node_spec.get("requirements") or ()
        )
        taints = tuple(
            (str(t.get("key")), str(t.get("effect"))) for t in node_spec.get("taints") or ()
        )
        limits = {str(k): v for k, v in (spec.get("limits") or {}).items()}
        static = spec.get("replicas") is not None
    except UnknownValueError:
        return None
    return NodePool(requirements, taints, limits, static)


def positive_quantity(value: Any) -> bool:
    """Whether a Kubernetes quantity (`4`, `"1000"`, `"512Gi"`, `"500m"`) is more than zero."""
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int | float):
        return value > 0
    match = _QUANTITY.match(str(value).strip())
    return match is not None and float(match.group(1)) > 0


def _limit_problems(pool: NodePool) -> list[str]:
    if not pool.limits:
        return [
            "NodePool has no limits: Karpenter would add nodes without bound; set spec.limits "
            f"{' and '.join(BOUNDED_RESOURCES)}"
            + (f" and {GPU_RESOURCE}" if pool.allows_gpus else "")
        ]
    wanted = [*BOUNDED_RESOURCES, *([GPU_RESOURCE] if pool.allows_gpus else [])]
    return [
        f"NodePool limit {name} is "
        + ("missing" if name not in pool.limits else f"{pool.limits[name]!r}")
        + f': set spec.limits["{name}"] to the most this pool may add up to (above 0)'
        for name in wanted
        if not positive_quantity(pool.limits.get(name))
    ]


def node_pools_limited(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Every NodePool caps the cpu and memory it launches; one that may launch GPU instances
    caps its GPUs as well, so a queue of GPU pods cannot run up the bill without bound."""
    if args.resource_type != NODE_POOL_TYPE:
        return
    pool = read_node_pool(args.props)
    if pool is None:
        return
    if pool.static:
        # Its replicas bound it; Karpenter refuses any limit but `nodes` on it.
        if pool.allows_gpus:
            report_violation(
                "static NodePool (spec.replicas) may launch GPU instances: it keeps GPU nodes "
                f"running whether pods need them or not and cannot limit {GPU_RESOURCE}; drop "
                "replicas or restrict its requirements to CPU instances",
                None,
            )
        return
    for problem in _limit_problems(pool):
        report_violation(problem, None)
