"""Pricing rule for Karpenter's NodePools: nothing until pods ask, at most what `limits` allow.

Karpenter starts a GPU node only when a pod asks for one and removes it once idle, so a NodePool
costs nothing idle or typically. Its max is the most its limits let it run: for each instance
type its requirements allow (of the NVIDIA shapes infra/settings/catalogue.py knows), as many
nodes as the GPU, CPU, memory and node limits all admit, each with its EC2NodeClass's volumes
and, in public subnets, an IPv4 address; the dearest of those types is the max.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from infra.settings import decode_json_text
from infra.settings.catalogue import GPU_INSTANCE_SHAPES, GpuShape
from infra.tools.cost.context import Context, ebs_month, instance_price
from infra.tools.cost.errors import CostError
from infra.tools.cost.money import Cost, Item
from infra.tools.cost.plan_input import Resource
from infra.tools.cost.pricing_compute import SUBNET_TYPE, any_public, node_group_subnets
from infra.tools.cost.quantity import GIB, gib, quantity

NODE_CLASS_TYPE = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
CAPACITY_TYPE = "karpenter.sh/capacity-type"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
_AWS = "karpenter.k8s.aws/"
FAMILY, SIZE = f"{_AWS}instance-family", f"{_AWS}instance-size"
# Karpenter's default when a NodePool names no capacity type.
DEFAULT_CAPACITY = frozenset({"on-demand"})
CAPACITY_TYPES = frozenset({"spot", "on-demand", "reserved"})
# What one node adds to each limit; the GPU limit first, as the line shows it.
PER_NODE: dict[str, Callable[[GpuShape], Decimal]] = {
    "nvidia.com/gpu": lambda s: Decimal(s.gpus),
    "cpu": lambda s: Decimal(s.vcpus),
    "memory": lambda s: s.memory_gib * GIB,
    "nodes": lambda s: Decimal(1),
}
LIMIT_NAMES = {"nvidia.com/gpu": "gpus"}
# Karpenter's volumes when an EC2NodeClass declares none, by AMI family (GiB of gp3 each).
DEFAULT_VOLUMES_GIB = {"al2": (20,), "al2023": (20,), "bottlerocket": (4, 20), "windows": (50,)}
_CATEGORY = re.compile(r"([a-z]+)(\d+)")
_COMPARE = {"Gt": operator.gt, "Gte": operator.ge, "Lt": operator.lt, "Lte": operator.le}


@dataclass(frozen=True)
class Option:
    """One way to reach the max: so many nodes of one type, and what they cost a month."""

    instance_type: str
    nodes: int
    instances: float
    volumes: float
    addresses: float

    @property
    def total(self) -> float:
        return self.instances + self.volumes + self.addresses


def _spec(resource: Resource) -> Mapping[str, Any]:
    spec = decode_json_text(resource.inputs.get("spec"))
    return spec if isinstance(spec, Mapping) else {}


def _labels(instance_type: str, shape: GpuShape) -> dict[str, str]:
    """The well-known labels a node of this type carries, which requirements may name."""
    family, size = instance_type.split(".", 1)
    match = _CATEGORY.match(family)
    category, generation = match.groups() if match else (family, "")
    return {
        INSTANCE_TYPE: instance_type,
        FAMILY: family,
        SIZE: size,
        f"{_AWS}instance-category": category,
        f"{_AWS}instance-generation": generation,
        f"{_AWS}instance-gpu-count": str(shape.gpus),
        f"{_AWS}instance-cpu": str(shape.vcpus),
        f"{_AWS}instance-memory": str(shape.memory_gib * 1024),
    }


def _allows(value: str | None, requirement: Mapping[str, Any]) -> bool:
    op, values = requirement.get("operator"), [str(v) for v in requirement.get("values") or []]
    if op in ("In", "NotIn"):
        return (value in values) == (op == "In")
    if op in ("Exists", "DoesNotExist"):
        return (value is not None) == (op == "Exists")
    if op in _COMPARE and value is not None and value.isdigit() and values:
        return _COMPARE[op](int(value), int(values[0]))
    raise CostError(f"cannot read the requirement {dict(requirement)!r}")


def _requirements(pool: Resource) -> list[Mapping[str, Any]]:
    template = (_spec(pool).get("template") or {}).get("spec") or {}
    return [r for r in template.get("requirements") or [] if isinstance(r, Mapping)]


def allowed_types(pool: Resource) -> dict[str, GpuShape]:
    """The NVIDIA types the requirements allow; keys the catalogue can't judge don't narrow."""
    requirements = _requirements(pool)
    named = (
        r.get("key") in (FAMILY, INSTANCE_TYPE) and r.get("operator") == "In" for r in requirements
    )
    if not any(named):
        raise CostError(
            f"{pool.urn}: no requirement {FAMILY} (or {INSTANCE_TYPE}) In [...]: the estimate "
            "prices the NVIDIA instance types a NodePool names, and this one names none"
        )
    types = {
        f"{family}.{size}": shape
        for family, sizes in GPU_INSTANCE_SHAPES.items()
        for size, shape in sizes.items()
    }
    allowed = {}
    for name, shape in types.items():
        labels = _labels(name, shape)
        judged = [r for r in requirements if r.get("key") in labels]
        if all(_allows(labels[str(r["key"])], r) for r in judged):
            allowed[name] = shape
    if not allowed:
        raise CostError(f"{pool.urn}: its requirements allow no NVIDIA instance type")
    return allowed


def capacity_types(pool: Resource) -> frozenset[str]:
    chosen = [r for r in _requirements(pool) if r.get("key") == CAPACITY_TYPE]
    if not chosen:
        return DEFAULT_CAPACITY
    allowed = frozenset(t for t in CAPACITY_TYPES if all(_allows(t, r) for r in chosen))
    if not allowed:
        raise CostError(f"{pool.urn}: its requirements allow no capacity type")
    return allowed


def limits(pool: Resource) -> dict[str, Decimal]:
    """The limits a node counts against, in the order the line shows them."""
    given = _spec(pool).get("limits") or {}
    found = {key: quantity(given[key]) for key in PER_NODE if key in given}
    if not found:
        raise CostError(
            f"{pool.urn}: no spec.limits on {', '.join(PER_NODE)}: Karpenter could start nodes "
            "without end, so the estimate has no max"
        )
    return found


def nodes_within(found: Mapping[str, Decimal], shape: GpuShape) -> int:
    return min(int(limit // PER_NODE[key](shape)) for key, limit in found.items())


def object_name(resource: Resource) -> str:
    """A Kubernetes object's metadata.name (the Pulumi name when the plan lacks it)."""
    metadata = resource.inputs.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return str(name or resource.name)


def node_class(ctx: Context, pool: Resource) -> Resource:
    """The EC2NodeClass the pool's nodeClassRef names."""
    template = (_spec(pool).get("template") or {}).get("spec") or {}
    name = str((template.get("nodeClassRef") or {}).get("name", ""))
    for resource in ctx.plan.resources:
        if resource.type == NODE_CLASS_TYPE and object_name(resource) == name:
            return resource
    raise CostError(f"{pool.urn}: its nodeClassRef names EC2NodeClass {name!r}, not in the plan")


def volumes(nodes: Resource) -> list[tuple[float, str]]:
    """(GiB, type) of each volume a node of the EC2NodeClass gets."""
    spec = _spec(nodes)
    mappings = [m for m in spec.get("blockDeviceMappings") or [] if isinstance(m, Mapping)]
    if mappings:
        ebs = [m.get("ebs") or {} for m in mappings]
        return [
            (gib(e["volumeSize"]), str(e.get("volumeType") or "gp3"))
            for e in ebs
            if e.get("volumeSize")
        ]
    aliases = [
        str(t.get("alias", ""))
        for t in spec.get("amiSelectorTerms") or []
        if isinstance(t, Mapping)
    ]
    family = str(spec.get("amiFamily") or next((a for a in aliases if a), "")).split("@")[0]
    return [(float(size), "gp3") for size in DEFAULT_VOLUMES_GIB.get(family.lower(), (20,))]


def _selects(ctx: Context, term: Mapping[str, Any], subnet: Resource) -> bool:
    if "id" in term:
        return subnet.id == str(term["id"])
    wanted = term.get("tags") or {}
    tags = ctx.tags_of(subnet)
    return bool(wanted) and all(k in tags and v in ("*", tags[k]) for k, v in wanted.items())


def public_nodes(ctx: Context, nodes: Resource) -> bool:
    """Whether the EC2NodeClass's nodes get a public IPv4 address.

    Explicitly, or from the subnets its subnetSelectorTerms pick out of the plan; when they pick
    none (their tags or ids are known only once deployed), Karpenter's nodes are taken to start
    where the system node group's do.
    """
    spec = _spec(nodes)
    if isinstance(spec.get("associatePublicIPAddress"), bool):
        return spec["associatePublicIPAddress"]
    terms = [t for t in spec.get("subnetSelectorTerms") or [] if isinstance(t, Mapping)]
    subnets = [r for r in ctx.plan.resources if r.type == SUBNET_TYPE]
    picked = {s.id for s in subnets if s.id and any(_selects(ctx, t, s) for t in terms)}
    return any_public(ctx, picked or node_group_subnets(ctx))


def _options(
    ctx: Context, pool: Resource, nodes: Resource, found: Mapping[str, Decimal], spot: bool
) -> Iterable[Option]:
    disks = sum(ebs_month(ctx, pool, kind, size) for size, kind in volumes(nodes))
    ipv4 = ctx.prices_for(pool).public_ipv4_hourly * ctx.hours if public_nodes(ctx, nodes) else 0
    for name, shape in allowed_types(pool).items():
        count = nodes_within(found, shape)
        hourly = instance_price(ctx, pool, name, spot)
        yield Option(name, count, count * hourly * ctx.hours, count * disks, count * ipv4)


def price_node_pool(ctx: Context, resource: Resource) -> list[Item]:
    allowed = capacity_types(resource)
    # On-demand is the dearer: the worst case whenever the pool may fall back to it.
    spot = allowed == {"spot"}
    found, nodes = limits(resource), node_class(ctx, resource)
    best = max(_options(ctx, resource, nodes, found, spot), key=lambda o: o.total)
    given = _spec(resource).get("limits") or {}
    shown = ", ".join(f"{LIMIT_NAMES.get(k, k)} {given[k]}" for k in found)
    disks = ", ".join(f"{size:g} GiB {kind}" for size, kind in volumes(nodes))
    items = [
        Item(
            f"max: {best.nodes} x {best.instance_type} {'spot' if spot else 'on-demand'} "
            f"(limits {shown}); idle and typical: none, Karpenter starts GPU nodes only when "
            "pods ask",
            Cost(max=best.instances),
        ),
        Item(f"{disks} per node (EC2NodeClass {object_name(nodes)})", Cost(max=best.volumes)),
    ]
    if best.addresses:
        items.append(Item("public IPv4 address per node", Cost(max=best.addresses)))
    return items
