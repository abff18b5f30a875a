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
        "node pool with a CPU family",
        _set("cluster.nodePools.0.instanceFamilies", ["m5"]),
        f"{NS}cluster.nodePools[0].instanceFamilies: m5: not NVIDIA GPU instance families",
    ),
    (
        "node pool with an AMD GPU family",
        _set("cluster.nodePools.0.instanceFamilies", ["g4ad"]),
        f"{NS}cluster.nodePools[0].instanceFamilies: g4ad: not NVIDIA",
    ),
    (
        "node pool with a size its families lack",
        _set("cluster.nodePools.0.instanceSizes", ["xlarge", "96xlarge"]),
        f"{NS}cluster.nodePools[0].instanceSizes: 96xlarge: no size of g6, g5, g4dn",
    ),
    (
        "node pool limited to 0 GPUs",
        _set("cluster.nodePools.0.limits.gpus", 0),
        f"{NS}cluster.nodePools[0].limits.gpus: Input should be greater than or equal to 1",
    ),
    (
        "node pool limits below one node",
        _set("cluster.nodePools.0.limits.cpu", 2),
        f"{NS}cluster.nodePools[0]: limits allow not even one node of the smallest type "
        "(cpu 2 < 4)",
    ),
    (
        "node pool without the GPU taint",
        _set("cluster.nodePools.0.taints", []),
        f"{NS}cluster.nodePools[0].taints: a GPU pool must carry the taint "
        "nvidia.com/gpu=true:NoSchedule",
    ),
    (
        "node pool with the taint's effect softened",
        _set(
            "cluster.nodePools.0.taints",
            [{"key": "nvidia.com/gpu", "value": "true", "effect": "PreferNoSchedule"}],
        ),
        f"{NS}cluster.nodePools[0].taints: a GPU pool must carry the taint",
    ),
    (
        "unknown capacity type on a node pool",
        _set("cluster.nodePools.0.capacityTypes", ["spot", "reserved"]),
        f"{NS}cluster.nodePools[0].capacityTypes[1]",
    ),
    (
        "runners on an inference pool",
        _set("cluster.nodePools.0.maxRunners", 2),
        f"{NS}cluster.nodePools[0]: maxRunners is set for training pools, and only for them",
    ),
    (
        "training pool without runners",
        _set("cluster.nodePools.1.maxRunners", None),
        f"{NS}cluster.nodePools[1].maxRunners: Field required",
    ),
    (
        "an unknown disruption policy",
        _set("cluster.nodePools.0.disruption.consolidationPolicy", "Always"),
        f"{NS}cluster.nodePools[0].disruption.consolidationPolicy",
    ),
    (
        "a duration Karpenter can't read",
        _set("cluster.nodePools.0.disruption.consolidateAfter", "5 minutes"),
        f"{NS}cluster.nodePools[0].disruption.consolidateAfter: '5 minutes' is not a duration",
    ),
    (
        "an unpinned AMI",
        _set("cluster.karpenter.nodeClasses.AL2023.amiAlias", "al2023@latest"),
        f"{NS}cluster.karpenter.nodeClasses: AL2023.amiAlias: 'al2023@latest' is not "
        "al2023@v<YYYYMMDD>",
    ),
    (
        "a pool whose AMI family has no node class",
        _set("cluster.karpenter.nodeClasses.AL2023", None),
        f"{NS}cluster.nodePools: no cluster.karpenter.nodeClasses entry for AL2023",
    ),
    (
        "a runner bigger than the training nodes",
        _set("training.runnerMemoryMib", 65536),
        f"{NS}training: a runner (3000m, 65536Mi) does not fit pool gpu-training's smallest",
    ),
    (
        "half a GitHub App",
        _set("training.githubAppId", 123),
        f"{NS}training: githubAppId and githubAppInstallationId are set together",
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
        "an AMI family Karpenter has no NVIDIA variant of here",
        _set("cluster.nodePools.0.amiFamily", "Windows2022"),
        f"{NS}cluster.nodePools[0].amiFamily",
    ),
    (
        "Arm AMI with x86 instances",
        _set("cluster.systemPool.amiType", "AL2023_ARM_64_STANDARD"),
        f"{NS}cluster.systemPool.instanceTypes: t3a.medium, t3.medium do not match amiType",
    ),
    (
        "duplicate pool names",
        _set("cluster.nodePools.1.name", "gpu-inference"),
        f"{NS}cluster.nodePools: duplicate entries: gpu-inference",
    ),
    (
        "a node pool named like the system pool",
        _set("cluster.nodePools.0.name", "system"),
        f"{NS}cluster.nodePools: 'system' is the system pool's name",
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
            c[NS + "cluster"]["nodePools"].pop(0),
        ),
        f"{NS}serving: gpus is 1 but no cluster.nodePools entry has workloadType inference",
    ),
    (
        "more GPUs per pod than a node has",
        _set("serving.gpus", 4),
        f"{NS}serving: gpus is 4 but no cluster.nodePools entry",
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
