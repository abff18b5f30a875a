"""Every stack setting as one typed model, validated before any resource is declared.

A stack file (`Pulumi.<stack>.yaml`) holds one key per section under the project namespace plus
`aws:region`; the project's identity and cost tags come from params.yaml (ml/identity.py) only.
`validate_settings` takes the plain mapping of those keys, so it runs without Pulumi; a wrong
setting fails with the exact key to fix (`mlops-template:cluster.gpuPools[0].minSize: ...`).

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

from ml.identity import COST_TAG_KEYS, Identity, IdentityError, load_identity, parse_identity

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
CLUSTER_AUTOSCALER_CHARTS: dict[str, str] = {"1.32": "9.46.6", "1.33": "9.50.1", "1.34": "9.52.1"}

# The values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827)
ClusterLogType = Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]

# Buckets this stack owns, by purpose; the access-log bucket receives the others' access logs.
DVC_BUCKET, ARTIFACTS_BUCKET, ACCESS_LOGS_BUCKET = "dvc", "artifacts", "access-logs"
BUCKET_PURPOSES = (DVC_BUCKET, ARTIFACTS_BUCKET, ACCESS_LOGS_BUCKET)
ACCOUNT_ID_LENGTH = 12
# Pulumi auto-names IAM roles and node groups: logical name + "-" + 7 random characters.
AUTONAME_SUFFIX_LENGTH = 8
# IAM roles this stack names after its prefix (the longest decides the limit).
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
    """One block of a stack file: camelCase keys there, snake_case here, nothing unknown."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, alias_generator=to_camel
    )


class NetworkSettings(Section):
    vpc_cidr: Cidr
    az_count: Annotated[int, Field(ge=2, le=3)]
    public_subnet_cidrs: list[Cidr]
    private_subnet_cidrs: list[Cidr]
    # single: one NAT gateway for the VPC (cheap); per_az: one per zone (survives a zone outage);
    # none: no NAT, nodes run in the public subnets with public IPs (inbound still closed).
    nat_mode: Literal["single", "per_az", "none"]

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
    name: PoolName
    ami_type: str
    instance_types: Annotated[list[InstanceType], Field(min_length=1, max_length=20)]
    capacity_type: Literal["ON_DEMAND", "SPOT"]
    min_size: Annotated[int, Field(ge=0, le=100)]
    max_size: Annotated[int, Field(ge=1, le=100)]
    desired_size: Annotated[int, Field(ge=0, le=100)]
    disk_size_gib: Annotated[int, Field(ge=20, le=16384)]

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
    """Always-on nodes for cluster add-ons (DNS, autoscaler) and CPU workloads."""

    # Narrower than the base's str, at the same position (validators read it before types).
    ami_type: CpuAmiType  # pyright: ignore[reportIncompatibleVariableOverride]
    min_size: Annotated[int, Field(ge=1, le=100)]


class GpuPool(NodePool):
    """NVIDIA nodes that scale from zero, tainted so only pods asking for GPUs land there."""

    ami_type: GpuAmiType  # pyright: ignore[reportIncompatibleVariableOverride]
    workload_type: Literal["inference", "training", "batch"]

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
    version: str
    public_access_cidrs: Annotated[list[IPv4Network], Field(min_length=1)]
    log_types: list[ClusterLogType]
    log_retention_days: Annotated[int, AfterValidator(_check_retention)]
    deletion_protection: bool
    admin_role_arns: list[Annotated[str, _matches(_IAM_ROLE_ARN, "an IAM role ARN")]]
    system_pool: SystemPool
    gpu_pools: list[GpuPool]

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
    noncurrent_version_expiry_days: Days
    intelligent_tiering_after_days: Annotated[int, Field(ge=0, le=3650)]
    access_log_expiry_days: Days
    # Lets `pulumi destroy` empty the buckets; keep false where data must outlive the stack.
    force_destroy: bool


class RegistrySettings(Section):
    keep_images: Annotated[int, Field(ge=1, le=1000)]
    untagged_expiry_days: Annotated[int, Field(ge=1, le=365)]
    force_delete: bool


class BudgetSettings(Section):
    monthly_limit_usd: Annotated[float, Field(gt=0, le=1_000_000)]
    # AWS Budgets notifies at most ten email subscribers per notification.
    alert_emails: Annotated[list[Email], Field(min_length=1, max_length=10)]


class CiSettings(Section):
    """Which GitHub Actions runs of the identity's repository may assume this stack's roles."""

    # GitHub's OIDC provider exists once per AWS account: `existing` reuses one made elsewhere.
    github_oidc_provider: Literal["create", "existing"]
    plan_pull_requests: bool
    plan_branches: list[Branch]
    deploy_branches: list[Branch]
    deploy_environments: list[GithubEnvironment]
    deploy_namespaces: Annotated[list[Namespace], Field(min_length=1)]

    @field_validator("plan_branches", "deploy_branches", "deploy_environments", "deploy_namespaces")
    @classmethod
    def _no_duplicates(cls, values: list[str]) -> list[str]:
        return _unique(values)

    @model_validator(mode="after")
    def _someone_can_assume(self) -> CiSettings:
        if not (self.deploy_branches or self.deploy_environments):
            raise ValueError("deployBranches or deployEnvironments must name at least one ref")
        if not (self.plan_pull_requests or self.plan_branches):
            raise ValueError("planPullRequests or planBranches must allow at least one ref")
        return self


class StateSettings(Section):
    # s3: the self-managed backend `make bootstrap-state` creates; cloud: Pulumi Cloud.
    backend: Literal["s3", "cloud"]


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
    def budget_prefix(self) -> str:
        """Budgets of this stack are named starting with this (CI may read them)."""
        return self.prefix

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

    identity: Identity
    region: Region
    environment: EnvironmentName
    network: NetworkSettings
    cluster: ClusterSettings
    storage: StorageSettings
    registry: RegistrySettings
    budget: BudgetSettings
    ci: CiSettings
    state: StateSettings

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
            data[name] = _decode(value)
    if problems:
        raise SettingsError(problems)
    try:
        return StackSettings.model_validate(data)
    except ValidationError as error:
        raise SettingsError(
            [f"{_key(project, tuple(item['loc']))}: {_message(item)}" for item in error.errors()]
        ) from None


def _decode(value: Any) -> Any:
    """Objects arrive from the Pulumi CLI as JSON text; plain values pass through."""
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
