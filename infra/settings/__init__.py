"""Every stack setting as one typed model, validated before any resource is declared.

A stack file (`Pulumi.<stack>.yaml`) holds one key per section under the project namespace plus
`aws:region`; the project's identity and cost tags come from params.yaml (ml/core/identity.py) only.
`validate_settings` takes the plain mapping of those keys, so it runs without Pulumi; a wrong
setting fails with the exact key to fix (`<project>:cluster.gpuPools[0].minSize: ...`).

Adding a section: write one `Section` model and add it as a field of `StackSettings`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Annotated, Any, Literal

import pulumi
from pulumi import RunError
from pulumi.runtime import config as runtime_config
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from infra.components.monitoring.alert_rules import threshold_problems
from infra.helpers.charts import CLUSTER_AUTOSCALER_CHARTS
from infra.helpers.labels import ACCELERATOR_LABEL, NODE_POOL_LABEL, WORKLOAD_LABEL
from ml.core.identity import (
    COST_TAG_KEYS,
    Identity,
    IdentityError,
    LabelValue,
    budget_name,
    load_identity,
    parse_identity,
)

# --- Tables ---------------------------------------------------------------------------------------

# NVIDIA GPUs per instance size, by family (AMD g4ad and Arm g5g are left out on purpose: the GPU
# AMI types below are x86_64 + NVIDIA). The cluster autoscaler needs the count to scale from zero.
_ONE_TO_SIXTEEN = {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1}
GPU_INSTANCE_FAMILIES: dict[str, dict[str, int]] = {
    "g4dn": {**_ONE_TO_SIXTEEN, "12xlarge": 4, "metal": 8},
    "g5": {**_ONE_TO_SIXTEEN, "12xlarge": 4, "24xlarge": 4, "48xlarge": 8},
    "g6": {**_ONE_TO_SIXTEEN, "12xlarge": 4, "24xlarge": 4, "48xlarge": 8},
    "g6e": {**_ONE_TO_SIXTEEN, "12xlarge": 4, "24xlarge": 4, "48xlarge": 8},
    "gr6": {"4xlarge": 1, "8xlarge": 1},
    "p3": {"2xlarge": 1, "8xlarge": 4, "16xlarge": 8},
    "p3dn": {"24xlarge": 8},
    "p4d": {"24xlarge": 8},
    "p4de": {"24xlarge": 8},
    "p5": {"4xlarge": 1, "48xlarge": 8},
    "p5e": {"48xlarge": 8},
    "p5en": {"48xlarge": 8},
}

# EKS managed node group AMI types: the system pool runs a CPU one, GPU pools an NVIDIA one.
CpuAmiType = Literal[
    "AL2023_x86_64_STANDARD", "AL2023_ARM_64_STANDARD", "BOTTLEROCKET_x86_64", "BOTTLEROCKET_ARM_64"
]
GpuAmiType = Literal["AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA"]

# Kubernetes minor -> pinned cluster-autoscaler chart (its appVersion matches that minor).

# The values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827)
ClusterLogType = Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]

SERVING_WORKLOAD = "inference"

# Buckets this stack owns, by purpose; the access-log bucket receives the others' access logs.
DVC_BUCKET, ARTIFACTS_BUCKET, ACCESS_LOGS_BUCKET = "dvc", "artifacts", "access-logs"
BUCKET_PURPOSES = (DVC_BUCKET, ARTIFACTS_BUCKET, ACCESS_LOGS_BUCKET)
ACCOUNT_ID_LENGTH = 12
# Pulumi auto-names IAM roles and node groups: logical name + "-" + 7 random characters.
AUTONAME_SUFFIX_LENGTH = 8
# IAM roles this stack names after its prefix (the longest decides the limit; the other roles,
# ebs-csi, alertmanager, serving, drift and ci-infra, have shorter purposes than these).
ROLE_PURPOSES = ("cluster", "node", "cluster-autoscaler", "ci-plan", "ci-deploy")

_REGION = (
    r"^(us|eu|ap|sa|ca|me|af|il|mx|cn)(-gov|-iso[a-z]?)?-"
    r"(north|south|east|west|central|northeast|northwest|southeast|southwest)-\d{1,2}$"
)
_INSTANCE_TYPE = r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$"
# `t4g`, `m7gd`, `c6gn`, `im4gn`: a "g" among the attributes after the generation means Graviton.
_GRAVITON_FAMILY = re.compile(r"^[a-z]+\d+[a-z-]*g[a-z-]*$")
_EMAIL = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$"
# A git branch name as GitHub's OIDC `sub` carries it; no wildcards, so trust stays exact.
_BRANCH = r"^[A-Za-z0-9._/-]{1,200}$"
# GitHub environment names, kept to letters, digits and . _ - (no wildcards).
_GITHUB_ENVIRONMENT = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$"
# AWS tag values: at most 256 letters, digits, spaces and _ . : / = + - @ (and not empty here).
_AWS_TAG_VALUE = re.compile(r"^[\w .:/=+@-]{1,256}$")
_IAM_ROLE_ARN = r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:role/[A-Za-z0-9_+=,.@/-]{1,512}$"
# A CronJob schedule: five cron fields, or one of the @ shorthands Kubernetes accepts.
_CRON_FIELD = r"[0-9A-Za-z*/,?-]+"
_CRON = rf"@(hourly|daily|weekly|monthly|yearly)|({_CRON_FIELD}\s+){{4}}{_CRON_FIELD}"


def _is_graviton(instance_type: str) -> bool:
    return bool(_GRAVITON_FAMILY.match(instance_type.split(".", 1)[0]))


def gpu_count(instance_type: str) -> int | None:
    """NVIDIA GPUs in one instance of this type, or None when it is not a GPU type we know."""
    family, _, size = instance_type.partition(".")
    return GPU_INSTANCE_FAMILIES.get(family, {}).get(size)


def _unique(values: list[Any]) -> list[Any]:
    duplicates = sorted({str(v) for v in values if values.count(v) > 1})
    if duplicates:
        raise ValueError(f"duplicate entries: {', '.join(duplicates)}")
    return values


# --- Sections -------------------------------------------------------------------------------------


def _matches(regex: str, what: str) -> AfterValidator:
    """A string check whose error says what was expected, not which regex failed."""
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


def _check_branch(name: str) -> str:
    if name[0] in "/." or name[-1] in "/." or "//" in name or ".." in name:
        raise ValueError(f"{name!r} is not a valid branch name")
    return name


Region = Annotated[str, _matches(_REGION, "an AWS region (like us-east-1)")]
EnvironmentName = Annotated[
    str, _matches(r"[a-z]([a-z0-9-]{0,14}[a-z0-9])?", "1-16 lowercase letters, digits, '-'")
]
PoolName = Annotated[
    str, _matches(r"[a-z]([a-z0-9-]{0,22}[a-z0-9])?", "1-24 lowercase letters, digits, '-'")
]
InstanceType = Annotated[str, _matches(_INSTANCE_TYPE, "an EC2 instance type (like m6i.large)")]
Email = Annotated[str, Field(max_length=254), _matches(_EMAIL, "an email address")]
Branch = Annotated[
    str,
    _matches(_BRANCH, "an exact branch name (letters, digits, . _ / -; no wildcards)"),
    AfterValidator(_check_branch),
]
GithubEnvironment = Annotated[
    str, _matches(_GITHUB_ENVIRONMENT, "a GitHub environment name (no wildcards)")
]
Namespace = Annotated[
    str, _matches(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", "a Kubernetes namespace name")
]
Days = Annotated[int, Field(ge=1, le=3650)]


def _check_retention(days: int) -> int:
    if days not in LOG_RETENTION_DAYS:
        raise ValueError(f"must be one of {', '.join(map(str, LOG_RETENTION_DAYS))}")
    return days


def _check_cidr_size(network: IPv4Network) -> IPv4Network:
    # AWS accepts VPC and subnet blocks between /16 and /28.
    if not 16 <= network.prefixlen <= 28:
        raise ValueError(f"{network} must be between /16 and /28")
    return network


Cidr = Annotated[IPv4Network, AfterValidator(_check_cidr_size)]


class Section(BaseModel):
    """One block of a stack file: camelCase keys there, snake_case here, nothing unknown.

    Every field has a description: the README's table of settings is generated from them.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, alias_generator=to_camel
    )


def _describe(text: str) -> Any:
    """A required setting and what it does (no default: the stack file says it)."""
    return Field(description=text)


class NetworkSettings(Section):
    vpc_cidr: Cidr = _describe("The VPC's IPv4 block, /16 to /28.")
    az_count: Annotated[int, Field(ge=2, le=3)] = _describe(
        "Availability zones the VPC spans (2 or 3); one public and one private subnet each."
    )
    public_subnet_cidrs: list[Cidr] = _describe(
        "One block per zone for the public subnets (load balancers; nodes when natMode is none)."
    )
    private_subnet_cidrs: list[Cidr] = _describe(
        "One block per zone for the private subnets (the control plane's interfaces; nodes "
        "behind NAT)."
    )
    nat_mode: Literal["single", "per_az", "none"] = _describe(
        "single: one NAT gateway for the VPC (cheap); per_az: one per zone (survives a zone "
        "outage); none: no NAT, nodes run in the public subnets with public IPs (inbound still "
        "closed)."
    )

    @field_validator("public_subnet_cidrs", "private_subnet_cidrs")
    @classmethod
    def _subnets_fit(cls, subnets: list[IPv4Network], info: ValidationInfo) -> list[IPv4Network]:
        vpc, azs = info.data.get("vpc_cidr"), info.data.get("az_count")
        if azs is not None and len(subnets) != azs:
            raise ValueError(f"needs one subnet per zone: {len(subnets)} given, azCount is {azs}")
        outside = [str(s) for s in subnets if vpc is not None and not s.subnet_of(vpc)]
        if outside:
            raise ValueError(f"{', '.join(outside)} outside the VPC block {vpc}")
        earlier = list(info.data.get("public_subnet_cidrs") or [])
        taken = earlier + list(subnets)
        for i, one in enumerate(taken):
            for other in taken[i + 1 :]:
                if one.overlaps(other):
                    raise ValueError(f"{one} overlaps {other}")
        return subnets


class NodePool(Section):
    name: PoolName = _describe(
        "The pool's name: its nodes' `node-pool` label and part of the node group's name."
    )
    ami_type: str = _describe("The EKS AMI type of the nodes.")
    instance_types: Annotated[list[InstanceType], Field(min_length=1, max_length=20)] = _describe(
        "EC2 instance types, first choice first (on-demand takes the first with capacity)."
    )
    capacity_type: Literal["ON_DEMAND", "SPOT"] = _describe("ON_DEMAND or SPOT capacity.")
    min_size: Annotated[int, Field(ge=0, le=100)] = _describe(
        "Nodes kept when idle (the cost estimate's idle scenario)."
    )
    max_size: Annotated[int, Field(ge=1, le=100)] = _describe(
        "Most nodes the cluster autoscaler may run (the max scenario for GPU pools)."
    )
    desired_size: Annotated[int, Field(ge=0, le=100)] = _describe(
        "Nodes at creation; the cluster autoscaler owns the count afterwards."
    )
    disk_size_gib: Annotated[int, Field(ge=20, le=16384)] = _describe(
        "Size of each node's encrypted gp3 root volume, GiB."
    )

    @field_validator("instance_types")
    @classmethod
    def _architecture_matches_ami(cls, types: list[str], info: ValidationInfo) -> list[str]:
        _unique(types)
        ami = info.data.get("ami_type")
        if ami is None:
            return types
        arm = "ARM" in ami
        wrong = [t for t in types if _is_graviton(t) != arm]
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
    ami_type: CpuAmiType = _describe(  # pyright: ignore[reportIncompatibleVariableOverride]
        "A CPU AMI type (AL2023 or Bottlerocket, x86_64 or ARM)."
    )
    min_size: Annotated[int, Field(ge=1, le=100)] = _describe(
        "Nodes kept when idle: at least one, the add-ons run here."
    )


class GpuPool(NodePool):
    """NVIDIA nodes that scale from zero, tainted so only pods asking for GPUs land there."""

    ami_type: GpuAmiType = _describe(  # pyright: ignore[reportIncompatibleVariableOverride]
        "An NVIDIA AMI type (AL2023 with the device plugin DaemonSet, or Bottlerocket)."
    )
    workload_type: Literal["inference", "training", "batch"] = _describe(
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
    version: str = _describe(
        f"Kubernetes minor version ({', '.join(CLUSTER_AUTOSCALER_CHARTS)}); it picks the "
        "cluster autoscaler chart."
    )
    public_access_cidrs: Annotated[list[IPv4Network], Field(min_length=1)] = _describe(
        "Networks that may reach the public API endpoint."
    )
    log_types: list[ClusterLogType] = _describe("Control-plane logs sent to CloudWatch.")
    log_retention_days: Annotated[int, AfterValidator(_check_retention)] = _describe(
        "Days the control-plane logs are kept (a value CloudWatch Logs accepts)."
    )
    deletion_protection: bool = _describe("Refuse to delete the cluster until this is false.")
    admin_role_arns: list[Annotated[str, _matches(_IAM_ROLE_ARN, "an IAM role ARN")]] = _describe(
        "IAM roles given cluster-admin access (besides whoever created the cluster)."
    )
    system_pool: SystemPool = _describe("The always-on node pool.")
    gpu_pools: list[GpuPool] = _describe("NVIDIA node pools that scale from zero.")

    @field_validator("version")
    @classmethod
    def _supported_version(cls, version: str) -> str:
        if version not in CLUSTER_AUTOSCALER_CHARTS:
            supported = ", ".join(CLUSTER_AUTOSCALER_CHARTS)
            raise ValueError(f"Kubernetes {version!r} is not supported here (one of {supported})")
        return version

    @field_validator("log_types", "admin_role_arns")
    @classmethod
    def _no_duplicates(cls, values: list[Any]) -> list[Any]:
        return _unique(values)

    @field_validator("gpu_pools")
    @classmethod
    def _unique_pool_names(cls, pools: list[GpuPool], info: ValidationInfo) -> list[GpuPool]:
        system = info.data.get("system_pool")
        names = [p.name for p in pools] + ([system.name] if system else [])
        _unique(names)
        return pools

    @property
    def autoscaler_chart_version(self) -> str:
        return CLUSTER_AUTOSCALER_CHARTS[self.version]


class StorageSettings(Section):
    noncurrent_version_expiry_days: Days = _describe(
        "Days an overwritten or deleted object version is kept in the data buckets."
    )
    intelligent_tiering_after_days: Annotated[int, Field(ge=0, le=3650)] = _describe(
        "Days after which objects move to S3 Intelligent-Tiering (0: at once)."
    )
    access_log_expiry_days: Days = _describe("Days S3 server access logs are kept.")
    force_destroy: bool = _describe(
        "Let `pulumi destroy` empty the buckets; keep false where data must outlive the stack."
    )


class RegistrySettings(Section):
    keep_images: Annotated[int, Field(ge=1, le=1000)] = _describe(
        "Newest tagged images kept in ECR; older ones expire."
    )
    untagged_expiry_days: Annotated[int, Field(ge=1, le=365)] = _describe(
        "Days untagged image layers are kept."
    )
    force_delete: bool = _describe("Let `pulumi destroy` delete the repository with its images.")


class MonitoringSettings(Section):
    retention: Annotated[str, _matches(r"[1-9][0-9]*(h|d|w|y)", "a duration like 15d")] = _describe(
        "How long Prometheus keeps samples (e.g. 15d)."
    )
    storage_gib: Annotated[int, Field(ge=5, le=16_384)] = _describe(
        "Size of Prometheus' gp3 volume, GiB (it drops the oldest data at 85%)."
    )
    prometheus_cpu_millicores: Annotated[int, Field(ge=100, le=64_000)] = _describe(
        "CPU Prometheus requests, millicores (no CPU limit: throttling loses samples)."
    )
    prometheus_memory_mib: Annotated[int, Field(ge=512, le=262_144)] = _describe(
        "Memory Prometheus requests and is limited to, MiB."
    )
    gpu_metrics: bool = _describe("Run NVIDIA's DCGM exporter on the GPU nodes.")
    alert_thresholds: dict[str, float] = _describe(
        "Overrides of the alert thresholds by name (the `mlops:threshold:<name>` rules in "
        "infra/components/monitoring/rules), e.g. {error_ratio: 0.02}; {} keeps the defaults."
    )
    alert_emails: Annotated[list[Email], Field(min_length=1, max_length=10)] = _describe(
        "Where Alertmanager's alerts go: email subscribers of the stack's alerts SNS topic "
        "(each confirms once)."
    )

    @field_validator("alert_thresholds")
    @classmethod
    def _known_thresholds(cls, thresholds: dict[str, float]) -> dict[str, float]:
        problems = threshold_problems(thresholds)
        if problems:
            raise ValueError("; ".join(f"{name}: {why}" for name, why in problems.items()))
        return thresholds

    @field_validator("alert_emails")
    @classmethod
    def _no_duplicate_emails(cls, emails: list[str]) -> list[str]:
        return _unique(emails)


class BudgetSettings(Section):
    monthly_limit_usd: Annotated[float, Field(gt=0, le=1_000_000)] = _describe(
        "The stack's monthly cost budget, USD: `make rollout-check` refuses rollouts past it."
    )
    # AWS Budgets notifies at most ten email subscribers per notification.
    alert_emails: Annotated[list[Email], Field(min_length=1, max_length=10)] = _describe(
        "Who hears of the budget's alerts (email subscribers of its SNS topic)."
    )
    actual_alert_percent: Annotated[float, Field(gt=0, le=1000)] = _describe(
        "Alert when the month's actual spend passes this percentage of the limit."
    )
    forecast_alert_percent: Annotated[float, Field(gt=0, le=1000)] = _describe(
        "Alert when the month's forecast passes this percentage of the limit."
    )
    activate_cost_allocation_tags: bool = _describe(
        "Activate the cost tags in the billing account (account-wide: true in one stack only)."
    )

    @field_validator("alert_emails")
    @classmethod
    def _no_duplicate_emails(cls, emails: list[str]) -> list[str]:
        return _unique(emails)


class CiSettings(Section):
    """Which GitHub Actions runs of the identity's repository may assume this stack's roles."""

    github_oidc_provider: Literal["create", "existing"] = _describe(
        "GitHub's OIDC provider exists once per AWS account: create it, or reuse the existing one."
    )
    plan_pull_requests: bool = _describe(
        "Pull requests (from the repository itself, never forks) may assume the read-only "
        "plan role."
    )
    plan_branches: list[Branch] = _describe("Branches whose runs may assume the plan role.")
    deploy_branches: list[Branch] = _describe(
        "Branches whose runs may assume the model deploy role."
    )
    deploy_environments: list[GithubEnvironment] = _describe(
        "GitHub environments whose jobs may assume the model deploy role (deploy.yml's "
        "`environment:`)."
    )
    deploy_namespaces: Annotated[list[Namespace], Field(min_length=1)] = _describe(
        "Kubernetes namespaces the deploy role may change (serving.namespace is one)."
    )
    infra_environments: Annotated[list[GithubEnvironment], Field(min_length=1)] = _describe(
        "GitHub environments whose jobs may assume the infra role that runs the whole "
        "`pulumi up` (infra.yml's `environment:`); restrict them to the main branch."
    )

    @field_validator(
        "plan_branches",
        "deploy_branches",
        "deploy_environments",
        "deploy_namespaces",
        "infra_environments",
    )
    @classmethod
    def _no_duplicates(cls, values: list[str]) -> list[str]:
        return _unique(values)

    @field_validator("infra_environments")
    @classmethod
    def _infra_apart(cls, values: list[str], info: ValidationInfo) -> list[str]:
        # A model deploy job must never be able to take the broader infra role.
        shared = sorted(set(values) & set(info.data.get("deploy_environments") or []))
        if shared:
            raise ValueError(f"{', '.join(shared)} also in deployEnvironments")
        return values

    @model_validator(mode="after")
    def _someone_can_assume(self) -> CiSettings:
        if not (self.deploy_branches or self.deploy_environments):
            raise ValueError("deployBranches or deployEnvironments must name at least one ref")
        if not (self.plan_pull_requests or self.plan_branches):
            raise ValueError("planPullRequests or planBranches must allow at least one ref")
        return self


class ServingSettings(Section):
    """The model service: CI fills image, modelVersion and bentoTag when it ships a model
    (`make up IMAGE=... BENTO=...`); until then they are null and no service is declared."""

    image: Annotated[str, _matches(r"\S+", "an image reference")] | None = _describe(
        "The image the model runs (`<ecr-url>@sha256:...`); set by CI, null before the first "
        "shipped model."
    )
    model_version: LabelValue | None = _describe(
        "The bento's version: the pods' `model-version` label; set by CI with image."
    )
    bento_tag: Annotated[str, _matches(r"[a-z0-9][a-z0-9_.-]*:[A-Za-z0-9_.-]+", "NAME:VERSION")] | (
        None
    ) = _describe("The bento's tag (NAME:VERSION); set by CI with image.")
    namespace: Namespace = _describe(
        "Namespace of the service (one of ci.deployNamespaces; Pod Security `restricted`)."
    )
    min_replicas: Annotated[int, Field(ge=1, le=100)] = _describe("Fewest model pods (HPA).")
    max_replicas: Annotated[int, Field(ge=1, le=500)] = _describe("Most model pods (HPA).")
    target_cpu_percent: Annotated[int, Field(ge=10, le=100)] = _describe(
        "Average CPU use, percent of the request, the HPA scales towards."
    )
    cpu_millicores: Annotated[int, Field(ge=50, le=64_000)] = _describe(
        "CPU each model pod requests, millicores."
    )
    memory_mib: Annotated[int, Field(ge=64, le=262_144)] = _describe(
        "Memory each model pod requests, MiB."
    )
    cpu_limit_millicores: Annotated[int, Field(ge=50, le=64_000)] = _describe(
        "CPU limit of each model pod, millicores."
    )
    memory_limit_mib: Annotated[int, Field(ge=64, le=262_144)] = _describe(
        "Memory limit of each model pod, MiB."
    )
    gpus: Annotated[int, Field(ge=0, le=8)] = _describe(
        "NVIDIA GPUs per pod; above 0 the pods run on an `inference` GPU pool."
    )
    client_namespaces: list[Namespace] = _describe(
        "Namespaces allowed to call the service besides its own (an ingress controller's)."
    )
    max_error_ratio: Annotated[float, Field(gt=0, lt=1)] = _describe(
        "Canary gate: the analysis fails when the canary's 5xx ratio exceeds this."
    )
    max_p95_latency_s: Annotated[float, Field(gt=0, le=60)] = _describe(
        "Canary gate: the analysis fails when the canary's p95 latency exceeds this, seconds."
    )
    analysis_interval_s: Annotated[int, Field(ge=30, le=3600)] = _describe(
        "Seconds between two measurements of a canary analysis."
    )
    analysis_count: Annotated[int, Field(ge=1, le=60)] = _describe(
        "Measurements per canary analysis step."
    )
    failure_limit: Annotated[int, Field(ge=0, le=10)] = _describe(
        "Failed measurements a step tolerates before the rollout aborts."
    )
    rollout_timeout_s: Annotated[int, Field(ge=60, le=7200)] = _describe(
        "How long `pulumi up` waits for the Rollout to become Healthy, seconds."
    )
    drift_schedule: Annotated[str, _matches(_CRON, "a five-field cron schedule")] = _describe(
        "When the drift CronJob compares the logged requests with the training data (cron, UTC)."
    )
    drift_window_hours: Annotated[int, Field(ge=1, le=720)] = _describe(
        "Hours of logged requests each drift check judges."
    )

    @field_validator("client_namespaces")
    @classmethod
    def _no_duplicates(cls, values: list[str]) -> list[str]:
        return _unique(values)

    @model_validator(mode="after")
    def _consistent(self) -> ServingSettings:
        if self.max_replicas < self.min_replicas:
            raise ValueError("maxReplicas must be >= minReplicas")
        if self.cpu_limit_millicores < self.cpu_millicores:
            raise ValueError("cpuLimitMillicores must be >= cpuMillicores")
        if self.memory_limit_mib < self.memory_mib:
            raise ValueError("memoryLimitMib must be >= memoryMib")
        shipped = (self.image, self.model_version, self.bento_tag)
        if any(v is None for v in shipped) and any(v is not None for v in shipped):
            raise ValueError(
                "image, modelVersion and bentoTag are set together (make up IMAGE=...)"
            )
        if self.bento_tag is not None and self.bento_tag.split(":", 1)[1] != self.model_version:
            raise ValueError(f"modelVersion must be the version of bentoTag {self.bento_tag}")
        return self

    @property
    def shipped(self) -> bool:
        """Whether a model has been shipped to this stack, so there is a service to declare."""
        return self.image is not None

    @property
    def gpu_node_selector(self) -> dict[str, str]:
        """The node labels pods with GPUs select: the stack's inference GPU pools."""
        return {ACCELERATOR_LABEL: "nvidia", WORKLOAD_LABEL: SERVING_WORKLOAD}


class StateSettings(Section):
    backend: Literal["s3", "cloud"] = _describe(
        "Where Pulumi keeps the state: s3 (the bucket `make bootstrap-state` creates; CI roles "
        "may read and write this stack's state) or cloud (Pulumi Cloud)."
    )


# --- Names derived from the identity --------------------------------------------------------------


@dataclass(frozen=True)
class Naming:
    """Every physical name the stack derives from project + environment, in one place."""

    project: str
    environment: str

    @property
    def prefix(self) -> str:
        return f"{self.project}-{self.environment}"

    @property
    def cluster(self) -> str:
        return self.prefix

    @property
    def cluster_log_group(self) -> str:
        # EKS writes control-plane logs to exactly this group; creating it first sets retention.
        return f"/aws/eks/{self.cluster}/cluster"

    @property
    def log_group_prefix(self) -> str:
        """Log groups the stack's own components create start with this."""
        return f"/{self.project}/{self.environment}/"

    @property
    def ecr_repository(self) -> str:
        return f"{self.prefix}/bentos"

    @property
    def kms_alias(self) -> str:
        return f"alias/{self.prefix}"

    @property
    def budget(self) -> str:
        """The stack's monthly budget; ml/release/budget_gate.py finds it by the same rule."""
        return budget_name(self.project, self.environment)

    def topic(self, purpose: str) -> str:
        """An SNS topic of this stack (`alerts`, `budget-alerts`)."""
        return f"{self.prefix}-{purpose}"

    def bucket(self, purpose: str, account_id: str) -> str:
        # The account id keeps S3's global namespace from clashing across forks and accounts.
        return f"{self.prefix}-{purpose}-{account_id}"

    def role(self, purpose: str) -> str:
        """Logical name of an IAM role; Pulumi appends a random suffix."""
        return f"{self.prefix}-{purpose}"

    def too_long(self) -> list[str]:
        """Names that would break an AWS length limit, worst case (12-digit account id)."""
        account = "0" * ACCOUNT_ID_LENGTH
        limits = [(self.bucket(p, account), 63, "S3 bucket names allow") for p in BUCKET_PURPOSES]
        limits += [
            (self.role(p), 64 - AUTONAME_SUFFIX_LENGTH, "IAM role names (before the suffix) allow")
            for p in ROLE_PURPOSES
        ]
        return [
            f"{name!r} has {len(name)} characters, {what} {limit}"
            for name, limit, what in limits
            if len(name) > limit
        ]


def state_bucket_name(project: str, account_id: str) -> str:
    """The self-managed backend's bucket, shared by every stack of the project."""
    return f"{project}-pulumi-state-{account_id}"


def state_key_alias(project: str) -> str:
    """The KMS alias that encrypts the state bucket and the stacks' secrets."""
    return f"alias/{project}-pulumi-secrets"


# --- The whole stack ------------------------------------------------------------------------------


class StackSettings(BaseModel):
    """All settings of one stack; field names (camelCase) are the keys of the stack file."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, alias_generator=to_camel
    )

    identity: Identity = _describe("params.yaml's identity section (never in the stack file).")
    region: Region = _describe("`aws:region`: where the stack runs.")
    environment: EnvironmentName = _describe(
        "The stack's environment: its cost tag and part of every name (budget, buckets, cluster)."
    )
    network: NetworkSettings = _describe("The VPC.")
    cluster: ClusterSettings = _describe("The EKS cluster and its node pools.")
    storage: StorageSettings = _describe("The DVC, artifacts and access-log buckets.")
    registry: RegistrySettings = _describe("The ECR repository of bento images.")
    monitoring: MonitoringSettings = _describe(
        "Prometheus, Alertmanager, Grafana, the Pushgateway and the DCGM exporter."
    )
    budget: BudgetSettings = _describe("The monthly AWS Budget and its alerts.")
    ci: CiSettings = _describe("GitHub Actions' OIDC roles: plan, model deploy, infra.")
    serving: ServingSettings = _describe(
        "The model service (Argo Rollouts canary) and its drift CronJob."
    )
    state: StateSettings = _describe("The Pulumi state backend the CI roles use.")

    @field_validator("environment")
    @classmethod
    def _names_fit(cls, environment: str, info: ValidationInfo) -> str:
        identity = info.data.get("identity")
        problems = Naming(identity.project, environment).too_long() if identity else []
        if problems:
            raise ValueError(
                "names derived from identity.project and environment are too long: "
                + "; ".join(problems)
            )
        return environment

    @field_validator("serving")
    @classmethod
    def _serving_fits_the_stack(
        cls, serving: ServingSettings, info: ValidationInfo
    ) -> ServingSettings:
        ci, cluster = info.data.get("ci"), info.data.get("cluster")
        if ci is not None and serving.namespace not in ci.deploy_namespaces:
            raise ValueError(
                f"namespace {serving.namespace!r} is not one of ci.deployNamespaces "
                f"({', '.join(ci.deploy_namespaces)}): the deploy role could not roll it out"
            )
        if cluster is not None and serving.gpus:
            # Model pods select the `inference` GPU pools (infra/components/serving/__init__.py).
            fitting = [
                p.name
                for p in cluster.gpu_pools
                if p.workload_type == SERVING_WORKLOAD and p.gpus_per_node >= serving.gpus
            ]
            if not fitting:
                raise ValueError(
                    f"gpus is {serving.gpus} but no cluster.gpuPools entry has workloadType "
                    f"inference and {serving.gpus}+ GPUs per node: the pods would never schedule"
                )
        return serving

    @property
    def naming(self) -> Naming:
        return Naming(self.identity.project, self.environment)


# Settings read from outside the project namespace, and what the stack file calls them.
_REGION_KEY = "aws:region"
_OUTSIDE_KEYS = {"region": _REGION_KEY}
_FROM_PARAMS = "identity"
# Stack-file keys of the project namespace: every StackSettings field except those two.
SECTION_KEYS = tuple(
    (field.alias or name)
    for name, field in StackSettings.model_fields.items()
    if name not in ("identity", "region")
)


class SettingsError(RunError, ValueError):
    """The stack's settings are wrong; each line names a key and what is wrong with it.

    A RunError, so `pulumi up` prints the message without a Python traceback.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid stack settings:\n  " + "\n  ".join(problems))


def _key(project: str, loc: tuple[int | str, ...]) -> str:
    head, *rest = loc or ("",)
    if head == _FROM_PARAMS:
        base = "params.yaml identity"
    elif head in _OUTSIDE_KEYS:
        base = _OUTSIDE_KEYS[str(head)]
    else:
        base = f"{project}:{head}"
    path = base
    for part in rest:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _message(item: Mapping[str, Any]) -> str:
    msg = str(item["msg"]).removeprefix("Value error, ")
    if item["type"] == "extra_forbidden":
        return "unknown key"
    return msg


def _identity(identity: Identity | Mapping[str, Any] | None) -> Identity:
    if isinstance(identity, Identity):
        return identity
    if identity is None:
        return load_identity()
    return parse_identity(dict(identity))


def validate_settings(
    config: Mapping[str, Any],
    *,
    project: str,
    identity: Identity | Mapping[str, Any] | None = None,
) -> StackSettings:
    """Validate a stack's config mapping (`Pulumi.<stack>.yaml`'s `config:`), before any resource.

    `config` holds namespaced keys with plain values; values may also be JSON strings, as the
    Pulumi CLI hands object settings to a program. `identity` defaults to params.yaml's.
    """
    try:
        ident = _identity(identity)
    except IdentityError as error:
        raise SettingsError([f"params.yaml {error}"]) from None

    problems: list[str] = []
    if project != ident.project:
        problems.append(
            f"Pulumi.yaml name: project {project!r} differs from params.yaml identity.project "
            f"{ident.project!r}; rename one so both match (`make init` renames both)"
        )
    tags = ident.cost_tags()
    for key in COST_TAG_KEYS:
        if not _AWS_TAG_VALUE.match(tags.get(key, "")):
            problems.append(
                f"params.yaml identity: cost tag {key!r} missing or not a valid AWS tag"
            )

    data: dict[str, Any] = {"identity": ident}
    namespace = f"{project}:"
    for key, value in config.items():
        if key == _REGION_KEY:
            data["region"] = value
        elif key.startswith(namespace):
            name = key.removeprefix(namespace)
            if name not in SECTION_KEYS:
                problems.append(f"{key}: unknown key (known: {', '.join(SECTION_KEYS)})")
                continue
            data[name] = decode_json_text(value)
    if problems:
        raise SettingsError(problems)
    try:
        return StackSettings.model_validate(data)
    except ValidationError as error:
        raise SettingsError(
            [f"{_key(project, tuple(item['loc']))}: {_message(item)}" for item in error.errors()]
        ) from None


def decode_json_text(value: Any) -> Any:
    """Objects arrive from the Pulumi engine as JSON text; plain values pass through."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def load_settings() -> StackSettings:
    """The running stack's settings, as the Pulumi engine passed them to this program."""
    # The engine hands the program every config key (PULUMI_CONFIG); reading them all lets a
    # misspelt key fail instead of being silently ignored.
    raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return validate_settings(raw, project=pulumi.get_project())
