"""Stack settings: the stack files validate, and every wrong setting fails naming its key."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from infra.settings import (
    SECTION_KEYS,
    Naming,
    SettingsError,
    StackSettings,
    catalogue,
    gpu_count,
    is_gpu_ami_type,
    is_gpu_instance_type,
    loading,
    state_bucket_name,
    validate_settings,
)
from ml.core import aws_regions
from ml.core.identity import load_identity
from ml.forking import values as forking_values
from tests.support.pulumi_unit import PROJECT, REPO_ROOT

STACKS = ("dev", "prod")
NS = f"{PROJECT}:"


def stack_config(stack: str) -> dict[str, Any]:
    text = (REPO_ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)["config"]


def identity() -> dict[str, Any]:
    return load_identity().model_dump(by_alias=True)


@pytest.mark.parametrize("stack", STACKS)
def test_stack_files_validate_and_spell_every_section_out(stack: str) -> None:
    config = stack_config(stack)
    settings = validate_settings(config, project=PROJECT)
    assert settings.environment == stack
    assert settings.region == config["aws:region"]
    assert sorted(k.removeprefix(NS) for k in config if k.startswith(NS)) == sorted(SECTION_KEYS)


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    found = [model]
    for field in model.model_fields.values():
        for candidate in (*getattr(field.annotation, "__args__", ()), field.annotation):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                found += _models(candidate)
    return found


def test_no_setting_has_a_silent_default() -> None:
    # Every key must be written in the stack file, so a stack file says all it deploys.
    defaults = [
        f"{model.__name__}.{name}"
        for model in _models(StackSettings)
        for name, field in model.model_fields.items()
        if not field.is_required() and model.__module__.startswith("infra.settings.")
    ]
    assert defaults == []


def test_every_setting_says_what_it_does() -> None:
    # The README's table of settings is generated from these descriptions.
    missing = [
        f"{model.__name__}.{name}"
        for model in _models(StackSettings)
        for name, field in model.model_fields.items()
        if model.__module__.startswith("infra.settings.") and not (field.description or "").strip()
    ]
    assert missing == []
    assert {m.__name__ for m in _models(StackSettings)} >= {
        "MonitoringSettings",
        "BudgetSettings",
        "ServingSettings",
        "CiSettings",
    }


@pytest.mark.parametrize("stack", STACKS)
def test_identity_lives_only_in_params(stack: str) -> None:
    text = (REPO_ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")
    ident = load_identity()
    for value in (ident.team, ident.cost_center, ident.repository):
        assert value not in text
    assert text.count(PROJECT) == text.count(NS)  # only as the config namespace


def test_cli_json_strings_validate_like_yaml_values() -> None:
    # The Pulumi CLI hands object settings to the program as JSON text.
    config = stack_config("prod")
    as_cli = {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    assert validate_settings(as_cli, project=PROJECT) == validate_settings(config, project=PROJECT)


def test_gpu_table() -> None:
    assert gpu_count("g5.xlarge") == 1
    assert gpu_count("g5.12xlarge") == 4
    assert gpu_count("p4d.24xlarge") == 8
    assert gpu_count("g4ad.xlarge") is None  # AMD
    assert gpu_count("m5.large") is None
    # Any size of a known NVIDIA family is a GPU type, even one the count table lacks.
    assert is_gpu_instance_type("g5.xlarge") and is_gpu_instance_type("p5.96xlarge")
    assert not is_gpu_instance_type("g4ad.xlarge") and not is_gpu_instance_type("m5.large")
    assert is_gpu_ami_type("AL2023_x86_64_NVIDIA") and is_gpu_ami_type("AL2_x86_64_GPU")
    assert not is_gpu_ami_type("AL2023_ARM_64_STANDARD")


def test_prod_api_is_private_by_default() -> None:
    settings = validate_settings(stack_config("prod"), project=PROJECT).cluster
    assert settings.endpoint_public_access is False
    assert settings.public_access_cidrs == []
    assert "0.0.0.0/0" not in (REPO_ROOT / "Pulumi.prod.yaml").read_text(encoding="utf-8")


API_SECTION = "Reaching the cluster's API"


def test_the_readme_section_the_stack_files_point_at_exists() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = " ".join(readme.split(f"### {API_SECTION}\n", 1)[1].split("\n#", 1)[0].split())
    for key in ("cluster.endpointPublicAccess", "cluster.publicAccessCidrs", "runs-on:"):
        assert key in section
    assert "Actions Runner Controller" in section
    for stack in STACKS:
        text = (REPO_ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")
        assert f"README: {API_SECTION}" in text


def test_names_fit_aws_limits_for_both_stacks() -> None:
    for stack in STACKS:
        assert validate_settings(stack_config(stack), project=PROJECT).naming.too_long() == []
    assert len(state_bucket_name("p" * 32, "0" * 12)) <= 63


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation of the config: `cluster.gpuPools.0.minSize` = value (None deletes)."""

    def mutate(config: dict[str, Any]) -> None:
        section, *rest = path.split(".")
        key = section if ":" in section else NS + section
        if not rest:
            if value is None:
                del config[key]
            else:
                config[key] = value
            return
        node = config[key]
        for part in rest[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        last = rest[-1]
        if value is None:
            del node[last]
        else:
            node[int(last) if last.isdigit() else last] = value

    return mutate


INVALID: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    (
        "gpu pool with a CPU type",
        _set("cluster.gpuPools.0.instanceTypes", ["m5.large"]),
        f"{NS}cluster.gpuPools[0].instanceTypes: m5.large not NVIDIA GPU instance types",
    ),
    (
        "gpu pool with an AMD GPU type",
        _set("cluster.gpuPools.0.instanceTypes", ["g4ad.xlarge"]),
        f"{NS}cluster.gpuPools[0].instanceTypes",
    ),
    (
        "gpu pool mixing GPU counts",
        _set("cluster.gpuPools.0.instanceTypes", ["g5.xlarge", "g5.12xlarge"]),
        f"{NS}cluster.gpuPools[0].instanceTypes: all instance types of a pool need the same",
    ),
    (
        "gpu pool not scaling from zero",
        _set("cluster.gpuPools.0.minSize", 1),
        f"{NS}cluster.gpuPools[0].minSize: GPU pools scale from zero",
    ),
    (
        "min above max",
        _set("cluster.systemPool.minSize", 4),
        f"{NS}cluster.systemPool.maxSize: maxSize 3 is below minSize 4",
    ),
    (
        "desired outside min..max",
        _set("cluster.systemPool.desiredSize", 9),
        f"{NS}cluster.systemPool.desiredSize: desiredSize 9 is outside",
    ),
    (
        "unknown capacity type",
        _set("cluster.systemPool.capacityType", "PREEMPTIBLE"),
        f"{NS}cluster.systemPool.capacityType",
    ),
    (
        "GPU AMI on the system pool",
        _set("cluster.systemPool.amiType", "AL2023_x86_64_NVIDIA"),
        f"{NS}cluster.systemPool.amiType",
    ),
    (
        "retired AMI type on a GPU pool",
        _set("cluster.gpuPools.0.amiType", "AL2_x86_64_GPU"),
        f"{NS}cluster.gpuPools[0].amiType",
    ),
    (
        "Arm AMI with x86 instances",
        _set("cluster.systemPool.amiType", "AL2023_ARM_64_STANDARD"),
        f"{NS}cluster.systemPool.instanceTypes: t3a.medium, t3.medium do not match amiType",
    ),
    (
        "duplicate pool names",
        _set("cluster.gpuPools.0.name", "system"),
        f"{NS}cluster.gpuPools: duplicate entries: system",
    ),
    (
        "unsupported Kubernetes version",
        _set("cluster.version", "1.27"),
        f"{NS}cluster.version: Kubernetes '1.27' is not supported",
    ),
    (
        "log retention CloudWatch refuses",
        _set("cluster.logRetentionDays", 10),
        f"{NS}cluster.logRetentionDays: must be one of",
    ),
    (
        "public CIDRs without a public endpoint",
        _set("cluster.endpointPublicAccess", False),
        f"{NS}cluster.publicAccessCidrs: must be [] when endpointPublicAccess is false",
    ),
    (
        "public endpoint with no CIDRs (AWS would open it to all)",
        _set("cluster.publicAccessCidrs", []),
        f"{NS}cluster.publicAccessCidrs: needs at least one network when endpointPublicAccess",
    ),
    (
        "private network as a public access CIDR",
        _set("cluster.publicAccessCidrs", ["203.0.113.0/24", "10.0.0.0/16"]),
        f"{NS}cluster.publicAccessCidrs: 10.0.0.0/16: private addresses never reach",
    ),
    (
        "duplicate public access CIDRs",
        _set("cluster.publicAccessCidrs", ["203.0.113.0/24", "203.0.113.0/24"]),
        f"{NS}cluster.publicAccessCidrs: duplicate entries: 203.0.113.0/24",
    ),
    (
        "public endpoint left unsaid",
        _set("cluster.endpointPublicAccess", None),
        f"{NS}cluster.endpointPublicAccess: Field required",
    ),
    (
        "private endpoint switched off",
        _set("cluster.endpointPrivateAccess", False),
        f"{NS}cluster.endpointPrivateAccess: unknown key",
    ),
    ("malformed VPC CIDR", _set("network.vpcCidr", "10.20.0.0/33"), f"{NS}network.vpcCidr"),
    (
        "CIDR with host bits",
        _set("network.vpcCidr", "10.20.0.1/16"),
        f"{NS}network.vpcCidr: Input is not a valid IPv4 network",
    ),
    (
        "subnet outside the VPC",
        _set("network.privateSubnetCidrs.1", "10.99.0.0/18"),
        f"{NS}network.privateSubnetCidrs: 10.99.0.0/18 outside the VPC block 10.20.0.0/16",
    ),
    (
        "fewer subnets than zones",
        _set("network.publicSubnetCidrs", ["10.20.0.0/22"]),
        f"{NS}network.publicSubnetCidrs: needs one subnet per zone",
    ),
    (
        "overlapping subnets",
        _set("network.privateSubnetCidrs.0", "10.20.0.0/18"),
        f"{NS}network.privateSubnetCidrs: 10.20.0.0/22 overlaps 10.20.0.0/18",
    ),
    (
        "unknown NAT mode",
        _set("network.natMode", "double"),
        f"{NS}network.natMode: Input should be 'single', 'per_az' or 'none'",
    ),
    ("too many zones", _set("network.azCount", 4), f"{NS}network.azCount"),
    (
        "flow-log retention CloudWatch refuses",
        _set("network.flowLogs.retentionDays", 10),
        f"{NS}network.flowLogs.retentionDays: must be one of",
    ),
    (
        "unknown flow-log traffic type",
        _set("network.flowLogs.trafficType", "SOME"),
        f"{NS}network.flowLogs.trafficType: Input should be 'ALL', 'ACCEPT' or 'REJECT'",
    ),
    (
        "flow logs switched on by a word",
        _set("network.flowLogs.enabled", "maybe"),
        f"{NS}network.flowLogs.enabled",
    ),
    (
        "flow logs without a retention",
        _set("network.flowLogs.retentionDays", None),
        f"{NS}network.flowLogs.retentionDays: Field required",
    ),
    ("no flow-log section", _set("network.flowLogs", None), f"{NS}network.flowLogs"),
    (
        "bad alert email",
        _set("budget.alertEmails", ["x@"]),
        f"{NS}budget.alertEmails[0]: 'x@' is not an email",
    ),
    ("no alert email", _set("budget.alertEmails", []), f"{NS}budget.alertEmails"),
    ("bad region", _set("aws:region", "us-moon-1"), "aws:region: 'us-moon-1' is not an AWS region"),
    (
        "unknown region",
        _set("aws:region", "us-east-7"),
        "aws:region: 'us-east-7' is not an AWS region (known: af-south-1, ap-east-1,",
    ),
    (
        "partition without our endpoints",
        _set("aws:region", "cn-north-1"),
        "aws:region: 'cn-north-1'",
    ),
    ("missing region", _set("aws:region", None), "aws:region: Field required"),
    (
        "wildcard deploy branch",
        _set("ci.deployBranches", ["release/*"]),
        f"{NS}ci.deployBranches[0]: 'release/*' is not an exact branch name",
    ),
    (
        "deploy role nobody may assume",
        lambda c: c[NS + "ci"].update(deployBranches=[], deployEnvironments=[]),
        f"{NS}ci: deployBranches or deployEnvironments must name at least one ref",
    ),
    (
        "unknown OIDC provider mode",
        _set("ci.githubOidcProvider", "maybe"),
        f"{NS}ci.githubOidcProvider",
    ),
    ("unknown state backend", _set("state.backend", "gcs"), f"{NS}state.backend"),
    ("missing section", _set("storage", None), f"{NS}storage: Field required"),
    (
        "unknown alert threshold",
        _set("monitoring.alertThresholds", {"error_rate": 0.1}),
        f"{NS}monitoring.alertThresholds: error_rate: no such threshold; known: ",
    ),
    (
        "alert threshold out of range",
        _set("monitoring.alertThresholds", {"error_ratio": 2}),
        f"{NS}monitoring.alertThresholds: error_ratio: must be in (0, 1]",
    ),
    (
        "Prometheus retention in words",
        _set("monitoring.retention", "two weeks"),
        f"{NS}monitoring.retention: 'two weeks' is not a duration like 15d",
    ),
    ("no alert recipient", _set("monitoring.alertEmails", []), f"{NS}monitoring.alertEmails"),
    (
        "cost tag switch that is not a boolean",
        _set("budget.activateCostAllocationTags", "sometimes"),
        f"{NS}budget.activateCostAllocationTags",
    ),
    (
        "infra role trusting a deploy environment",
        _set("ci.infraEnvironments", ["dev"]),
        f"{NS}ci.infraEnvironments: dev also in deployEnvironments",
    ),
    ("no infra environment", _set("ci.infraEnvironments", []), f"{NS}ci.infraEnvironments"),
    (
        "service outside the deploy namespaces",
        _set("serving.namespace", "models"),
        f"{NS}serving: namespace 'models' is not one of ci.deployNamespaces (serving)",
    ),
    (
        "GPU pods without an inference pool",
        lambda c: (
            c[NS + "serving"].update(gpus=1),
            c[NS + "cluster"]["gpuPools"][0].update(workloadType="training"),
        ),
        f"{NS}serving: gpus is 1 but no cluster.gpuPools entry has workloadType inference",
    ),
    (
        "more GPUs per pod than a node has",
        _set("serving.gpus", 4),
        f"{NS}serving: gpus is 4 but no cluster.gpuPools entry",
    ),
    (
        "half a shipped model",
        _set("serving.image", "123456789012.dkr.ecr.us-east-1.amazonaws.com/x@sha256:" + "c" * 64),
        f"{NS}serving: image, modelVersion and bentoTag are set together",
    ),
    (
        "image by tag",
        _set("serving.image", "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"),
        f"{NS}serving.image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1' is not an image "
        "by digest",
    ),
    (
        "drift schedule in words",
        _set("serving.driftSchedule", "hourly"),
        f"{NS}serving.driftSchedule: 'hourly' is not a five-field cron schedule",
    ),
    ("missing serving setting", _set("serving.image", None), f"{NS}serving.image: Field required"),
    ("misspelt section", _set("netwrok", {}), f"{NS}netwrok: unknown key"),
    (
        "misspelt setting",
        _set("cluster.systemPool.diskSize", 20),
        f"{NS}cluster.systemPool.diskSize: unknown key",
    ),
    ("bad environment name", _set("environment", "Dev_1"), f"{NS}environment"),
    (
        "registry keeping no image",
        _set("registry.keepImages", 0),
        f"{NS}registry.keepImages: Input should be greater than or equal to 1",
    ),
    (
        "admin that is not a role ARN",
        _set("cluster.adminRoleArns", ["arn:aws:iam::123:user/x"]),
        f"{NS}cluster.adminRoleArns[0]",
    ),
]


@pytest.mark.parametrize(("case", "mutate", "expected"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_settings_fail_naming_the_key(
    case: str, mutate: Callable[[dict[str, Any]], object], expected: str
) -> None:
    config = copy.deepcopy(stack_config("dev"))
    mutate(config)
    with pytest.raises(SettingsError) as raised:
        validate_settings(config, project=PROJECT)
    assert expected in str(raised.value), str(raised.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"team": None}, "params.yaml identity.team: Field required"),
        ({"repository": "not a repo"}, "params.yaml identity.repository"),
        ({"cost-center": "has spaces"}, "params.yaml identity.cost-center"),
    ],
)
def test_bad_identity_fails_naming_the_params_key(change: dict[str, Any], expected: str) -> None:
    ident = {**identity(), **change}
    ident = {k: v for k, v in ident.items() if v is not None}
    with pytest.raises(SettingsError, match=r"params\.yaml") as raised:
        validate_settings(stack_config("dev"), project=PROJECT, identity=ident)
    assert expected in str(raised.value)


def test_pulumi_project_must_match_identity() -> None:
    with pytest.raises(SettingsError) as raised:
        validate_settings(stack_config("dev"), project="renamed-project")
    message = str(raised.value)
    assert "Pulumi.yaml name" in message and "'renamed-project'" in message
    assert f"identity.project {PROJECT!r}" in message


def test_names_too_long_for_s3_fail_on_environment() -> None:
    project = "p" * 30 + "xy"
    config = {k.replace(PROJECT, project): v for k, v in stack_config("dev").items()}
    config[f"{project}:environment"] = "staging-eu-west1"
    with pytest.raises(SettingsError) as raised:
        validate_settings(config, project=project, identity={**identity(), "project": project})
    message = str(raised.value)
    assert f"{project}:environment: names derived from identity.project" in message
    assert "S3 bucket names allow 63" in message


def test_naming_is_derived_from_identity() -> None:
    naming = Naming("acme", "dev")
    assert naming.bucket("dvc", "123456789012") == "acme-dev-dvc-123456789012"
    assert naming.cluster_log_group == "/aws/eks/acme-dev/cluster"
    assert naming.too_long() == []


def test_every_role_the_stack_names_fits_the_length_check() -> None:
    """Naming.too_long checks ROLE_PURPOSES; every other role purpose must be no longer."""
    import re

    from infra.settings import ROLE_PURPOSES

    sources = "\n".join(p.read_text() for p in (REPO_ROOT / "infra").rglob("*.py"))
    used = set(re.findall(r"\.role\(\s*\"([a-z0-9-]+)\"\s*\)", sources))
    # CI roles are named through CiAccess._role(args, "<purpose>", ...).
    used |= set(re.findall(r"_role\(\s*args,\s*\"([a-z0-9-]+)\"", sources))
    assert {"cluster", "ebs-csi", "alertmanager", "serving", "drift", "ci-infra"} <= used
    assert max(map(len, used)) <= max(map(len, ROLE_PURPOSES))


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_file_names_a_known_region(stack: str) -> None:
    assert stack_config(stack)["aws:region"] in catalogue.AWS_REGIONS


def test_init_and_the_settings_check_one_region_list() -> None:
    # `make init` offers exactly the regions a stack file may name: the same tuple, not a copy.
    assert catalogue.AWS_REGIONS is forking_values.AWS_REGIONS is aws_regions.AWS_REGIONS


def test_an_unreadable_params_file_fails_the_settings_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "params.yaml"
    bad.write_text("identity:\n  team: a: b\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(loading, "load_identity", lambda: load_identity(bad))
    with pytest.raises(SettingsError) as raised:
        validate_settings(stack_config("dev"), project=PROJECT)
    assert (
        str(raised.value)
        == "params.yaml:2:10: YAML syntax error: mapping values are not allowed here"
    )
    assert raised.value.problems == [str(raised.value)]
