"""The `cluster` section: the EKS control plane, its always-on system pool and the GPU NodePools
Karpenter scales from zero."""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from infra.helpers.charts import KUBERNETES_VERSIONS
from infra.settings.catalogue import ClusterLogType, CpuAmiType, is_arm_ami_type, is_graviton
from infra.settings.fields import (
    IamRoleArn,
    InstanceType,
    LogRetentionDays,
    PoolName,
    Section,
    describe,
    unique,
)
from infra.settings.node_pools import GpuNodePool, KarpenterSettings, check_node_pools

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
        "Most nodes the group may hold (room for a rolling update's extra node)."
    )
    desired_size: Annotated[int, Field(ge=0, le=100)] = describe(
        "Nodes the group runs; change it here to resize the pool (GPU capacity comes from "
        "Karpenter's NodePools instead)."
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
    """Always-on nodes for cluster add-ons (DNS, Karpenter, monitoring) and CPU workloads."""

    # Narrower than the base's str, at the same position (validators read it before types).
    ami_type: CpuAmiType = describe(  # pyright: ignore[reportIncompatibleVariableOverride]
        "A CPU AMI type (AL2023 or Bottlerocket, x86_64 or ARM)."
    )
    min_size: Annotated[int, Field(ge=1, le=100)] = describe(
        "Nodes kept when idle: at least one, the add-ons run here."
    )


class ClusterSettings(Section):
    version: str = describe(
        f"Kubernetes minor version ({', '.join(KUBERNETES_VERSIONS)}: those the pinned Karpenter "
        "supports)."
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
    system_pool: SystemPool = describe("The always-on managed node group (Karpenter runs here).")
    karpenter: KarpenterSettings = describe("What Karpenter's nodes boot.")
    node_pools: list[GpuNodePool] = describe(
        "Karpenter NodePools of NVIDIA nodes, scaled from zero when pods ask for GPUs."
    )

    @field_validator("version")
    @classmethod
    def _supported_version(cls, version: str) -> str:
        if version not in KUBERNETES_VERSIONS:
            supported = ", ".join(KUBERNETES_VERSIONS)
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

    @field_validator("node_pools")
    @classmethod
    def _pools_fit(cls, pools: list[GpuNodePool], info: ValidationInfo) -> list[GpuNodePool]:
        system = info.data.get("system_pool")
        if system is not None and system.name in {p.name for p in pools}:
            raise ValueError(f"{system.name!r} is the system pool's name")
        check_node_pools(pools, info.data.get("karpenter"))
        return pools

    def pools_for(self, workload_type: str) -> list[GpuNodePool]:
        return [p for p in self.node_pools if p.workload_type == workload_type]
