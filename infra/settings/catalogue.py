"""AWS facts the settings check against: regions, instance families, GPU counts, AMI types, logs.

The one place for GPU facts: the cluster's node pools and the offline cost estimate both ask here
which instance types are NVIDIA ones and how many GPUs they carry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from infra.helpers.labels import GPU_RESOURCE
from ml.core.aws_regions import AWS_REGIONS as AWS_REGIONS  # the list `make init` offers

INSTANCE_TYPE_PATTERN = r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$"
IAM_ROLE_ARN_PATTERN = r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:role/[A-Za-z0-9_+=,.@/-]{1,512}$"
# AWS tag values: at most 256 letters, digits, spaces and _ . : / = + - @ (and not empty here).
AWS_TAG_VALUE = re.compile(r"^[\w .:/=+@-]{1,256}$")
# `t4g`, `m7gd`, `c6gn`, `im4gn`: a "g" among the attributes after the generation means Graviton.
_GRAVITON_FAMILY = re.compile(r"^[a-z]+\d+[a-z-]*g[a-z-]*$")

# NVIDIA GPU instance shapes, by family and size: (GPUs, vCPUs, memory GiB). AMD g4ad and Arm
# g5g are left out on purpose: the GPU AMIs here are x86_64 + NVIDIA. Karpenter's NodePool limits
# and the cost estimate's max scenario are counted in these.
_G_SIZES = {"xlarge": (1, 4), "2xlarge": (1, 8), "4xlarge": (1, 16), "8xlarge": (1, 32)}
_G_SIZES |= {"16xlarge": (1, 64), "12xlarge": (4, 48), "24xlarge": (4, 96), "48xlarge": (8, 192)}


def _shapes(sizes: Mapping[str, tuple[int, int]], gib_per_vcpu: int) -> dict[str, GpuShape]:
    return {s: GpuShape(g, v, v * gib_per_vcpu) for s, (g, v) in sizes.items()}


@dataclass(frozen=True)
class GpuShape:
    gpus: int
    vcpus: int
    memory_gib: int


GPU_INSTANCE_SHAPES: dict[str, dict[str, GpuShape]] = {
    "g4dn": {
        **_shapes({k: v for k, v in _G_SIZES.items() if k not in ("24xlarge", "48xlarge")}, 4),
        "metal": GpuShape(8, 96, 384),
    },
    "g5": _shapes(_G_SIZES, 4),
    "g6": _shapes(_G_SIZES, 4),
    "g6e": _shapes(_G_SIZES, 8),
    "gr6": {"4xlarge": GpuShape(1, 16, 128), "8xlarge": GpuShape(1, 32, 256)},
    "p3": {
        "2xlarge": GpuShape(1, 8, 61),
        "8xlarge": GpuShape(4, 32, 244),
        "16xlarge": GpuShape(8, 64, 488),
    },
    "p3dn": {"24xlarge": GpuShape(8, 96, 768)},
    "p4d": {"24xlarge": GpuShape(8, 96, 1152)},
    "p4de": {"24xlarge": GpuShape(8, 96, 1152)},
    "p5": {"4xlarge": GpuShape(1, 16, 256), "48xlarge": GpuShape(8, 192, 2048)},
    "p5e": {"48xlarge": GpuShape(8, 192, 2048)},
    "p5en": {"48xlarge": GpuShape(8, 192, 2048)},
}
# NVIDIA GPUs per instance size, by family.
GPU_INSTANCE_FAMILIES: dict[str, dict[str, int]] = {
    family: {size: shape.gpus for size, shape in sizes.items()}
    for family, sizes in GPU_INSTANCE_SHAPES.items()
}

# EKS managed node group AMI types: the system pool runs a CPU one, GPU pools an NVIDIA one.
CpuAmiType = Literal[
    "AL2023_x86_64_STANDARD", "AL2023_ARM_64_STANDARD", "BOTTLEROCKET_x86_64", "BOTTLEROCKET_ARM_64"
]
GpuAmiType = Literal["AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA"]

# The values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827)
ClusterLogType = Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]


def is_graviton(instance_type: str) -> bool:
    """Whether the instance type runs on an arm64 Graviton processor."""
    return bool(_GRAVITON_FAMILY.match(instance_type.split(".", 1)[0]))


def is_arm_ami_type(ami_type: str) -> bool:
    """Whether an EKS AMI type is built for arm64."""
    return "ARM" in ami_type


def gpu_shape(instance_type: str) -> GpuShape | None:
    """GPUs, vCPUs and memory of an NVIDIA instance type, or None when it is not one we know."""
    family, _, size = instance_type.partition(".")
    return GPU_INSTANCE_SHAPES.get(family, {}).get(size)


def gpu_count(instance_type: str) -> int | None:
    """NVIDIA GPUs in one instance of this type, or None when it is not a GPU type we know."""
    family, _, size = instance_type.partition(".")
    return GPU_INSTANCE_FAMILIES.get(family, {}).get(size)


def is_gpu_instance_type(instance_type: str) -> bool:
    """Whether the instance type is of an NVIDIA GPU family, whatever its size."""
    return instance_type.split(".", 1)[0] in GPU_INSTANCE_FAMILIES


def is_gpu_ami_type(ami_type: str) -> bool:
    """Whether an EKS AMI type is a GPU one (the `_NVIDIA` types, or AL2's `AL2_x86_64_GPU`)."""
    return "NVIDIA" in ami_type or "GPU" in ami_type


def is_gpu_pool(inputs: Mapping[str, Any]) -> bool:
    """A node group of NVIDIA instances (by type, AMI or the GPU taint)."""
    types = inputs.get("instanceTypes") or []
    if any(is_gpu_instance_type(str(t)) for t in types):
        return True
    if is_gpu_ami_type(str(inputs.get("amiType", ""))):
        return True
    taints = inputs.get("taints") or []
    return any(isinstance(t, Mapping) and t.get("key") == GPU_RESOURCE for t in taints)
