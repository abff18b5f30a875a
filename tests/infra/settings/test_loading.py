"""Loading: every wrong setting fails naming its key."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from infra.settings import SettingsError, validate_settings
from tests.infra.settings.stacks import NS, _set, stack_config
from tests.support.pulumi_unit import PROJECT

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
