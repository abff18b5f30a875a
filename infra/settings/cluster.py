"""The `cluster` section: the EKS control plane, its always-on system pool and its GPU pools."""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from infra.helpers.charts import CLUSTER_AUTOSCALER_CHARTS
from infra.settings.catalogue import (
    GPU_INSTANCE_FAMILIES,
    ClusterLogType,
    CpuAmiType,
    GpuAmiType,
    gpu_count,
    is_arm_ami_type,
    is_graviton,
)
from infra.settings.fields import (
    IamRoleArn,
    InstanceType,
    LogRetentionDays,
    PoolName,
    Section,
    describe,
    unique,
)

# RFC 1918 blocks: no request from them reaches a public endpoint.
_PRIVATE_NETWORKS = tuple(IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


class NodePool(Section):
    name: PoolName = describe(
        "The pool's name: its nodes' `node-pool` label and part of the node group's name."
    )
    ami_type: str = describe("The EKS AMI type of the nodes.")
    instance_types: Annotated[list[InstanceType], Field(min_length=1, max_length=20)] = describe(
        "EC2 instance types, first choice first (on-demand takes the first with capacity)."
    )
    capacity_type: Literal["ON_DEMAND", "SPOT"] = describe("ON_DEMAND or SPOT capacity.")
    min_size: Annotated[int, Field(ge=0, le=100)] = describe(
        "Nodes kept when idle (the cost estimate's idle scenario)."
    )
    max_size: Annotated[int, Field(ge=1, le=100)] = describe(
        "Most nodes the cluster autoscaler may run (the max scenario for GPU pools)."
    )
    desired_size: Annotated[int, Field(ge=0, le=100)] = describe(
        "Nodes at creation; the cluster autoscaler owns the count afterwards."
    )
    disk_size_gib: Annotated[int, Field(ge=20, le=16384)] = describe(
        "Size of each node's encrypted gp3 root volume, GiB."
    )

    @field_validator("instance_types")
    @classmethod
    def _architecture_matches_ami(cls, types: list[str], info: ValidationInfo) -> list[str]:
        unique(types)
        ami = info.data.get("ami_type")
        if ami is None:
            return types
        arm = is_arm_ami_type(ami)
        wrong = [t for t in types if is_graviton(t) != arm]
        if wrong:
            arch = "arm64 (Graviton)" if arm else "x86_64"
            raise ValueError(f"{', '.join(wrong)} do not match amiType {ami}, which needs {arch}")
        return types

    @field_validator("max_size")
    @classmethod
    def _max_not_below_min(cls, value: int, info: ValidationInfo) -> int:
        low = info.data.get("min_size")
        if low is not None and value < low:
            raise ValueError(f"maxSize {value} is below minSize {low}")
        return value

    @field_validator("desired_size")
    @classmethod
    def _desired_in_range(cls, value: int, info: ValidationInfo) -> int:
        low, high = info.data.get("min_size"), info.data.get("max_size")
        if low is not None and high is not None and not low <= value <= high:
            raise ValueError(f"desiredSize {value} is outside [minSize {low}, maxSize {high}]")
        return value


class SystemPool(NodePool):
    """Always-on nodes for cluster add-ons (DNS, autoscaler, monitoring) and CPU workloads."""

    # Narrower than the base's str, at the same position (validators read it before types).
    ami_type: CpuAmiType = describe(  # pyright: ignore[reportIncompatibleVariableOverride]
        "A CPU AMI type (AL2023 or Bottlerocket, x86_64 or ARM)."
    )
    min_size: Annotated[int, Field(ge=1, le=100)] = describe(
        "Nodes kept when idle: at least one, the add-ons run here."
    )


class GpuPool(NodePool):
    """NVIDIA nodes that scale from zero, tainted so only pods asking for GPUs land there."""

    ami_type: GpuAmiType = describe(  # pyright: ignore[reportIncompatibleVariableOverride]
        "An NVIDIA AMI type (AL2023 with the device plugin DaemonSet, or Bottlerocket)."
    )
    workload_type: Literal["inference", "training", "batch"] = describe(
        "The nodes' `workload-type` label; model pods with serving.gpus > 0 select `inference`."
    )

    @field_validator("min_size")
    @classmethod
    def _scales_from_zero(cls, value: int) -> int:
        if value != 0:
            raise ValueError(f"GPU pools scale from zero, so minSize must be 0 (not {value})")
        return value

    @field_validator("instance_types")
    @classmethod
    def _nvidia_types(cls, types: list[str]) -> list[str]:
        unknown = [t for t in types if gpu_count(t) is None]
        if unknown:
            families = ", ".join(GPU_INSTANCE_FAMILIES)
            raise ValueError(
                f"{', '.join(unknown)} not NVIDIA GPU instance types (families: {families})"
            )
        counts = {t: gpu_count(t) for t in types}
        if len(set(counts.values())) > 1:
            # The autoscaler sizes a pool from one template node, so all types must match.
            detail = ", ".join(f"{t}={n}" for t, n in counts.items())
            raise ValueError(f"all instance types of a pool need the same GPU count ({detail})")
        return types

    @property
    def gpus_per_node(self) -> int:
        return gpu_count(self.instance_types[0]) or 0


class ClusterSettings(Section):
    version: str = describe(
        f"Kubernetes minor version ({', '.join(CLUSTER_AUTOSCALER_CHARTS)}); it picks the "
        "cluster autoscaler chart."
    )
    endpoint_public_access: bool = describe(
        "Whether the API also has a public endpoint (the private one, inside the VPC, is always "
        "on). Off, `pulumi up` and kubectl must run from inside the VPC (see README, Reaching "
        "the cluster's API)."
    )
    public_access_cidrs: list[IPv4Network] = describe(
        "Networks that may reach the public endpoint: at least one when it is on (AWS would "
        "otherwise open it to 0.0.0.0/0), none when it is off."
    )
    log_types: list[ClusterLogType] = describe("Control-plane logs sent to CloudWatch.")
    log_retention_days: LogRetentionDays = describe(
        "Days the control-plane logs are kept (a value CloudWatch Logs accepts)."
    )
    deletion_protection: bool = describe("Refuse to delete the cluster until this is false.")
    admin_role_arns: list[IamRoleArn] = describe(
        "IAM roles given cluster-admin access (besides whoever created the cluster)."
    )
    system_pool: SystemPool = describe("The always-on node pool.")
    gpu_pools: list[GpuPool] = describe("NVIDIA node pools that scale from zero.")

    @field_validator("version")
    @classmethod
    def _supported_version(cls, version: str) -> str:
        if version not in CLUSTER_AUTOSCALER_CHARTS:
            supported = ", ".join(CLUSTER_AUTOSCALER_CHARTS)
            raise ValueError(f"Kubernetes {version!r} is not supported here (one of {supported})")
        return version

    @field_validator("public_access_cidrs")
    @classmethod
    def _cidrs_match_public_access(
        cls, cidrs: list[IPv4Network], info: ValidationInfo
    ) -> list[IPv4Network]:
        unique(cidrs)
        public = info.data.get("endpoint_public_access")
        if public is False and cidrs:
            raise ValueError("must be [] when endpointPublicAccess is false (no public endpoint)")
        if public and not cidrs:
            # An empty list would not close the endpoint: AWS opens it to 0.0.0.0/0.
            raise ValueError(
                "needs at least one network when endpointPublicAccess is true (AWS would open "
                "the endpoint to 0.0.0.0/0); write 0.0.0.0/0 to mean it"
            )
        private = [str(c) for c in cidrs if any(c.subnet_of(p) for p in _PRIVATE_NETWORKS)]
        if private:
            raise ValueError(
                f"{', '.join(private)}: private addresses never reach the public endpoint "
                "(the VPC uses the private one)"
            )
        return cidrs

    @field_validator("log_types", "admin_role_arns")
    @classmethod
    def _no_duplicates(cls, values: list[Any]) -> list[Any]:
        return unique(values)

    @field_validator("gpu_pools")
    @classmethod
    def _unique_pool_names(cls, pools: list[GpuPool], info: ValidationInfo) -> list[GpuPool]:
        system = info.data.get("system_pool")
        names = [p.name for p in pools] + ([system.name] if system else [])
        unique(names)
        return pools

    @property
    def autoscaler_chart_version(self) -> str:
        return CLUSTER_AUTOSCALER_CHARTS[self.version]
