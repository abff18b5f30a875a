"""`cluster.karpenter` and `cluster.nodePools`: the GPU capacity Karpenter launches on demand.

Each pool becomes a Karpenter NodePool: which NVIDIA instances it may start (families x sizes,
spot and/or on-demand), the taint that keeps other pods off, the most it may ever run (`limits`,
also the cost estimate's max scenario) and when Karpenter may take nodes away (`disruption`).
"""

from __future__ import annotations

import re
from itertools import product
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from infra.helpers.labels import GPU_RESOURCE
from infra.settings.catalogue import GPU_INSTANCE_SHAPES, GpuShape, gpu_shape
from infra.settings.fields import PoolName, Section, describe, matches, unique

AmiFamily = Literal["AL2023", "Bottlerocket"]
CapacityType = Literal["spot", "on-demand"]
# The one taint every GPU pool carries: only pods that tolerate it (those asking for GPUs) land.
GPU_TAINT = {"key": GPU_RESOURCE, "value": "true", "effect": "NoSchedule"}
# Pinned AMI versions: `@latest` would roll every GPU node to a new AMI whenever AWS ships one.
_AMI_ALIAS = {
    "AL2023": (r"al2023@v\d{8}", "al2023@v<YYYYMMDD> (a pinned AL2023 release)"),
    "Bottlerocket": (r"bottlerocket@v\d+\.\d+\.\d+", "bottlerocket@v<x.y.z> (a pinned release)"),
}
# Karpenter durations: Go's format, whole hours/minutes/seconds.
Duration = Annotated[str, matches(r"(\d+h)?(\d+m)?(\d+s)?", "a duration like 30s, 5m or 720h")]
# Room the kubelet, the device plugin and the DCGM exporter keep on every GPU node.
NODE_RESERVED_MILLICORES = 500
NODE_RESERVED_MIB = 2048


class Taint(Section):
    key: str = describe("The taint's key.")
    value: str = describe("The taint's value.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = describe("Its effect.")


class PoolLimits(Section):
    """The most a pool may ever run: Karpenter launches nothing beyond it."""

    gpus: Annotated[int, Field(ge=1, le=4096)] = describe("NVIDIA GPUs in all the pool's nodes.")
    cpu: Annotated[int, Field(ge=1, le=100000)] = describe("vCPUs in all the pool's nodes.")
    memory_gib: Annotated[int, Field(ge=1, le=1000000)] = describe(
        "Memory in all the pool's nodes, GiB."
    )


class Disruption(Section):
    """When Karpenter may take a node away (never one that runs a `do-not-disrupt` pod)."""

    consolidation_policy: Literal["WhenEmpty", "WhenEmptyOrUnderutilized"] = describe(
        "Remove nodes when empty, or also when their pods fit elsewhere."
    )
    consolidate_after: Duration = describe("How long a node stays empty/underused before.")
    expire_after: Duration | Literal["Never"] = describe(
        "Replace nodes this old (fresh AMIs and patches), or Never."
    )
    budget: Annotated[str, matches(r"\d{1,3}%|\d{1,4}", "a node count or a percentage")] = describe(
        "Nodes Karpenter may disrupt at once (a count, or a share like 10%)."
    )


class GpuNodePool(Section):
    """NVIDIA nodes Karpenter starts when a pod asks for a GPU, and stops when none does."""

    name: PoolName = describe("The NodePool's name and its nodes' `node-pool` label.")
    workload_type: Literal["inference", "training", "batch"] = describe(
        "The nodes' `workload-type` label: model pods with serving.gpus > 0 select `inference`, "
        "the training runners `training`."
    )
    ami_family: AmiFamily = describe(
        "AL2023 (NVIDIA variant, with the device plugin DaemonSet) or Bottlerocket (NVIDIA "
        "variant, plugin built in): the EC2NodeClass of cluster.karpenter.nodeClasses it boots."
    )
    instance_families: Annotated[list[str], Field(min_length=1)] = describe(
        "NVIDIA instance families the pool may start (g5, g6, ...)."
    )
    instance_sizes: Annotated[list[str], Field(min_length=1)] = describe(
        "Instance sizes (xlarge, 2xlarge, ...); each family x size AWS offers is allowed."
    )
    capacity_types: Annotated[list[CapacityType], Field(min_length=1)] = describe(
        "spot and/or on-demand; with both, Karpenter takes spot first and falls back to "
        "on-demand when spot has no capacity."
    )
    weight: Annotated[int, Field(ge=1, le=100)] = describe(
        "Karpenter tries pools of higher weight first (a spot pool above an on-demand one)."
    )
    taints: list[Taint] = describe(
        "Node taints; a GPU pool needs nvidia.com/gpu=true:NoSchedule so other pods stay off."
    )
    limits: PoolLimits = describe("The most the pool may run (the cost estimate's max).")
    disruption: Disruption = describe("Consolidation and expiry.")
    max_runners: Annotated[int, Field(ge=1, le=100)] | None = describe(
        "training pools: most GitHub Actions runners (one GPU each) of its runner scale set; "
        "null for the others."
    )

    @field_validator("instance_families")
    @classmethod
    def _nvidia_families(cls, families: list[str]) -> list[str]:
        unique(families)
        unknown = [f for f in families if f not in GPU_INSTANCE_SHAPES]
        if unknown:
            known = ", ".join(GPU_INSTANCE_SHAPES)
            raise ValueError(f"{', '.join(unknown)}: not NVIDIA GPU instance families ({known})")
        return families

    @field_validator("instance_sizes")
    @classmethod
    def _offered_sizes(cls, sizes: list[str], info: ValidationInfo) -> list[str]:
        unique(sizes)
        families = info.data.get("instance_families") or []
        offered = {s for f in families for s in GPU_INSTANCE_SHAPES.get(f, {})}
        missing = [s for s in sizes if families and s not in offered]
        if missing:
            raise ValueError(f"{', '.join(missing)}: no size of {', '.join(families)}")
        return sizes

    @field_validator("capacity_types")
    @classmethod
    def _distinct_capacity(cls, types: list[str]) -> list[str]:
        return unique(types)

    @field_validator("taints")
    @classmethod
    def _gpu_taint(cls, taints: list[Taint]) -> list[Taint]:
        unique([(t.key, t.effect) for t in taints])
        if not any(t.model_dump() == GPU_TAINT for t in taints):
            raise ValueError(
                "a GPU pool must carry the taint nvidia.com/gpu=true:NoSchedule, or any pod "
                "could land on (and keep alive) its GPU nodes"
            )
        return taints

    @model_validator(mode="after")
    def _limits_fit_a_node(self) -> GpuNodePool:
        smallest = min(self.shapes.values(), key=lambda s: (s.gpus, s.vcpus, s.memory_gib))
        too_small = [
            f"{name} {limit} < {need}"
            for name, limit, need in (
                ("gpus", self.limits.gpus, smallest.gpus),
                ("cpu", self.limits.cpu, smallest.vcpus),
                ("memoryGib", self.limits.memory_gib, smallest.memory_gib),
            )
            if limit < need
        ]
        if too_small:
            raise ValueError(
                f"limits allow not even one node of the smallest type ({', '.join(too_small)})"
            )
        if (self.workload_type == "training") != (self.max_runners is not None):
            raise ValueError("maxRunners is set for training pools, and only for them")
        return self

    @property
    def shapes(self) -> dict[str, GpuShape]:
        """Every instance type the pool may start, with its shape."""
        types = (f"{f}.{s}" for f, s in product(self.instance_families, self.instance_sizes))
        return {t: shape for t in types if (shape := gpu_shape(t)) is not None}

    @property
    def most_gpus_per_node(self) -> int:
        return max(s.gpus for s in self.shapes.values())

    @property
    def smallest_node(self) -> GpuShape:
        return min(self.shapes.values(), key=lambda s: (s.vcpus, s.memory_gib))


class NodeClass(Section):
    """An EC2NodeClass: the AMI and disk of the nodes of one AMI family."""

    ami_alias: str = describe(
        "Pinned AMI alias (al2023@v<YYYYMMDD>, bottlerocket@v<x.y.z>); bump deliberately."
    )
    disk_size_gib: Annotated[int, Field(ge=20, le=16384)] = describe(
        "Each node's encrypted gp3 root (AL2023) or data (Bottlerocket) volume, GiB."
    )


class KarpenterSettings(Section):
    """What Karpenter's nodes boot: one EC2NodeClass per AMI family, pinned per stack."""

    node_classes: Annotated[dict[AmiFamily, NodeClass], Field(min_length=1)] = describe(
        "EC2NodeClass per AMI family (AL2023 and/or Bottlerocket): AMI alias and disk size."
    )

    @field_validator("node_classes")
    @classmethod
    def _pinned(cls, classes: dict[str, NodeClass]) -> dict[str, NodeClass]:
        for family, node_class in classes.items():
            pattern, what = _AMI_ALIAS[family]
            if not re.fullmatch(pattern, node_class.ami_alias):
                raise ValueError(f"{family}.amiAlias: {node_class.ami_alias!r} is not {what}")
        return classes


def check_node_pools(pools: list[GpuNodePool], karpenter: KarpenterSettings | None) -> None:
    """Pools name distinct NodePools and boot AMI families that have a node class."""
    unique([p.name for p in pools])
    families = {p.ami_family for p in pools}
    if karpenter is not None and (missing := families - set(karpenter.node_classes)):
        raise ValueError(f"no cluster.karpenter.nodeClasses entry for {', '.join(sorted(missing))}")
