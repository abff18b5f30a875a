"""Offline monthly cost of a stack, from its offline plan and the dated price table.

`python -m infra.tools.cost --stack dev` runs `python -m infra.tools.plan` for the stack (or reads `--plan`),
prices what it declares three ways and breaks the totals down by resource and by cost tag:

- idle: every node pool at its minimum size (what the stack costs when nobody uses it);
- typical: every node pool at its desired size;
- max: GPU pools at their maximum, the other pools as typical (a GPU burst).

Items billed by usage (S3 storage, NAT data, logs, images) have no size in a plan: they use the
assumptions in the price table and are marked as such. `--base old-plan.json` adds the difference
against another plan, per resource and in total (what a pull request changes).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from infra.settings import decode_json_text
from ml.core.identity import COST_TAG_KEYS
from ml.core.paths import REPO_ROOT

PRICES_FILE = Path(__file__).resolve().with_name("prices.yaml")
PRICES_ENV = "PRICES"
SCENARIOS = ("idle", "typical", "max")
UNTAGGED = "(untagged)"
PROVIDER_PREFIX = "pulumi:providers:"
# NVIDIA GPU instance families (AWS's accelerated computing G and P types).
GPU_FAMILY = re.compile(r"^(g4dn|g5|g6|g6e|gr6|p3|p3dn|p4d|p4de|p5|p5e|p5en)$")
GPU_TAINT = "nvidia.com/gpu"
# EKS managed node groups default to a 20 GiB root volume.
EKS_DEFAULT_DISK_GIB = 20
EC2_DEFAULT_ROOT_GIB = 8
QUANTITY = re.compile(r"^([0-9.]+)\s*(Ki|Mi|Gi|Ti|Pi|K|M|G|T|P)?$")
GIB_PER_UNIT = {
    None: 1 / 2**30,
    "Ki": 1 / 2**20,
    "Mi": 1 / 2**10,
    "Gi": 1.0,
    "Ti": 2**10,
    "Pi": 2**20,
    "K": 1e3 / 2**30,
    "M": 1e6 / 2**30,
    "G": 1e9 / 2**30,
    "T": 1e12 / 2**30,
    "P": 1e15 / 2**30,
}


class CostError(ValueError):
    """The plan or the price table is unusable; the message names the file and the key."""


# --- The price table --------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Price = Field(ge=0)


class RegionPrices(_Strict):
    eks_cluster_hourly: float = Price
    nat_gateway_hourly: float = Price
    nat_gateway_per_gb: float = Price
    public_ipv4_hourly: float = Price
    interface_endpoint_hourly: float = Price
    load_balancer_hourly: float = Price
    ebs_gb_month: dict[str, float]
    s3_standard_gb_month: float = Price
    kms_key_month: float = Price
    logs_ingested_per_gb: float = Price
    logs_stored_gb_month: float = Price
    ecr_gb_month: float = Price
    secret_month: float = Price
    ec2_on_demand_hourly: dict[str, float]
    ec2_spot_hourly: dict[str, float]


class UsageAssumptions(_Strict):
    s3_gb_per_bucket: float = Price
    nat_gb_per_gateway: float = Price
    log_gb_ingested_per_group: float = Price
    log_gb_stored_per_group: float = Price
    ecr_gb_per_repository: float = Price


class PriceTable(_Strict):
    source: str = Field(min_length=1)
    as_of: date
    hours_per_month: float = Field(gt=0)
    usage: UsageAssumptions
    regions: dict[str, RegionPrices] = Field(min_length=1)

    def region(self, name: str) -> RegionPrices:
        if name not in self.regions:
            known = ", ".join(sorted(self.regions))
            raise CostError(f"prices: no prices for region {name!r} under `regions` ({known})")
        return self.regions[name]


def load_prices(path: Path) -> PriceTable:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise CostError(f"{path}: cannot read the price table: {error}") from None
    try:
        return PriceTable.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in error.errors()
        )
        raise CostError(f"{path}: {problems}") from None


# --- Money ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cost:
    """Monthly USD in the three scenarios."""

    idle: float = 0.0
    typical: float = 0.0
    max: float = 0.0

    @classmethod
    def flat(cls, amount: float) -> Cost:
        return cls(amount, amount, amount)

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.idle + other.idle, self.typical + other.typical, self.max + other.max)

    def __sub__(self, other: Cost) -> Cost:
        return Cost(self.idle - other.idle, self.typical - other.typical, self.max - other.max)

    def as_dict(self) -> dict[str, float]:
        return {s: round(getattr(self, s), 2) for s in SCENARIOS}

    def is_zero(self) -> bool:
        return all(abs(getattr(self, s)) < 0.005 for s in SCENARIOS)


def total(costs: Any) -> Cost:
    result = Cost()
    for cost in costs:
        result = result + cost
    return result


@dataclass(frozen=True)
class Item:
    """One line of a resource's bill."""

    description: str
    cost: Cost
    usage_based: bool = False


# --- The plan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    urn: str
    type: str
    name: str
    parent: str | None
    provider: str | None
    inputs: Mapping[str, Any]
    # The (mock) physical id, when the plan records it: it resolves references like subnetIds.
    id: str | None = None


@dataclass(frozen=True)
class Plan:
    stack: str
    resources: list[Resource]

    def by_urn(self) -> dict[str, Resource]:
        return {r.urn: r for r in self.resources}


def parse_plan(data: Any, source: str) -> Plan:
    """The plan JSON `python -m infra.tools.plan --format json` prints, checked key by key."""
    if not isinstance(data, dict) or not isinstance(data.get("resources"), list):
        raise CostError(f"{source}: not a plan: expected an object with a `resources` list")
    resources = []
    for index, raw in enumerate(data["resources"]):
        where = f"{source}: resources[{index}]"
        if not isinstance(raw, dict):
            raise CostError(f"{where}: expected an object")
        for key in ("type", "name"):
            if not isinstance(raw.get(key), str):
                raise CostError(f"{where}.{key}: missing or not a string")
        inputs = raw.get("inputs")
        inputs = {} if inputs is None else inputs
        if not isinstance(inputs, dict):
            raise CostError(f"{where}.inputs: expected an object")
        resources.append(
            Resource(
                urn=str(raw.get("urn") or f"{raw['type']}::{raw['name']}"),
                type=raw["type"],
                name=raw["name"],
                parent=raw.get("parent"),
                provider=raw.get("provider"),
                inputs=inputs,
                id=str(raw["id"]) if raw.get("id") else None,
            )
        )
    return Plan(stack=str(data.get("stack", "")), resources=resources)


def load_plan(path: Path) -> Plan:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise CostError(f"{path}: cannot read the plan: {error}") from None
    return parse_plan(data, str(path))


def run_plan(stack: str) -> Plan:
    """The offline plan of `stack`, as `python -m infra.tools.plan` prints it."""
    command = [sys.executable, "-m", "infra.tools.plan", "--stack", stack, "--format", "json"]
    result = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    if result.returncode != 0:
        raise CostError(f"`{' '.join(command[1:])}` failed:\n{result.stderr.strip()}")
    try:
        data = json.loads(result.stdout)
    except json.JSONDecodeError as error:
        raise CostError(f"`python -m infra.tools.plan` printed no JSON plan: {error}") from None
    return parse_plan(data, f"plan of stack {stack}")


# --- Reading inputs ---------------------------------------------------------------------------


def _provider_urn(reference: str | None, known: Mapping[str, Resource]) -> str | None:
    # The engine spells a provider reference `<urn>::<id>`; a plan may give the bare URN.
    if not reference or reference in known:
        return reference
    return reference.rsplit("::", 1)[0]


def _string_map(value: Any) -> dict[str, str]:
    value = decode_json_text(value)
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items() if isinstance(v, str | int | float)}
    if isinstance(value, list):
        # Auto Scaling groups spell tags as [{key, value, propagateAtLaunch}].
        return {str(t["key"]): str(t["value"]) for t in value if isinstance(t, dict) and "key" in t}
    return {}


def _gib(quantity: Any) -> float:
    """GiB in a Kubernetes quantity (`50Gi`, `100G`) or a plain number of GiB."""
    if isinstance(quantity, int | float):
        return float(quantity)
    match = QUANTITY.match(str(quantity).strip())
    if match is None:
        raise CostError(f"cannot read the storage size {quantity!r}")
    return float(match.group(1)) * GIB_PER_UNIT[match.group(2)]


@dataclass
class Context:
    """What pricing one resource may look at: the whole plan, the prices, the region."""

    plan: Plan
    prices: PriceTable
    default_region: str | None
    providers: dict[str, Resource] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.providers = {
            r.urn: r for r in self.plan.resources if r.type.startswith(PROVIDER_PREFIX)
        }

    def provider_of(self, resource: Resource) -> Resource | None:
        return self.providers.get(_provider_urn(resource.provider, self.providers) or "")

    def region_of(self, resource: Resource) -> str:
        provider = self.provider_of(resource)
        region = provider.inputs.get("region") if provider else None
        region = region or self.default_region
        if not region:
            raise CostError(f"{resource.urn}: its AWS provider names no region; pass --region")
        return str(region)

    def prices_for(self, resource: Resource) -> RegionPrices:
        return self.prices.region(self.region_of(resource))

    @property
    def hours(self) -> float:
        return self.prices.hours_per_month

    def tags_of(self, resource: Resource) -> dict[str, str]:
        """The tags (AWS) or labels (Kubernetes) spend is attributed by, defaults included."""
        if resource.type.startswith("aws:"):
            provider = self.provider_of(resource)
            defaults = decode_json_text(provider.inputs.get("defaultTags")) if provider else None
            tags = _string_map(defaults.get("tags")) if isinstance(defaults, dict) else {}
            return {**tags, **_string_map(resource.inputs.get("tags"))}
        values = decode_json_text(resource.inputs.get("values"))
        if isinstance(values, dict) and "commonLabels" in values:
            return _string_map(values["commonLabels"])
        metadata = resource.inputs.get("metadata")
        return _string_map(metadata.get("labels")) if isinstance(metadata, dict) else {}


def _instance_price(ctx: Context, resource: Resource, instance_type: str, spot: bool) -> float:
    prices = ctx.prices_for(resource)
    table, key = (
        (prices.ec2_spot_hourly, "ec2_spot_hourly")
        if spot
        else (prices.ec2_on_demand_hourly, "ec2_on_demand_hourly")
    )
    if instance_type not in table:
        region = ctx.region_of(resource)
        raise CostError(
            f"{resource.urn}: no price for {instance_type} under "
            f"regions.{region}.{key} in the price table"
        )
    return table[instance_type]


def _ebs_month(ctx: Context, resource: Resource, volume_type: str, gib: float) -> float:
    prices = ctx.prices_for(resource).ebs_gb_month
    if volume_type not in prices:
        raise CostError(f"{resource.urn}: no EBS price for volume type {volume_type!r}")
    return prices[volume_type] * gib


def is_gpu_pool(inputs: Mapping[str, Any]) -> bool:
    """A node group of NVIDIA instances (by type, AMI or the GPU taint)."""
    types = inputs.get("instanceTypes") or []
    if any(GPU_FAMILY.match(str(t).split(".", 1)[0]) for t in types):
        return True
    if "NVIDIA" in str(inputs.get("amiType", "")) or "GPU" in str(inputs.get("amiType", "")):
        return True
    taints = inputs.get("taints") or []
    return any(isinstance(t, Mapping) and t.get("key") == GPU_TAINT for t in taints)


# --- Pricing rules, one per resource type -------------------------------------------------------

Pricer = Callable[[Context, Resource], list[Item]]


def _launch_template_disk(ctx: Context, group: Resource) -> tuple[float, str] | None:
    """(GiB, type) of the root volume from the node group's launch template, if it has one."""
    reference = group.inputs.get("launchTemplate")
    if not isinstance(reference, dict):
        return None
    templates = [r for r in ctx.plan.resources if r.type == "aws:ec2/launchTemplate:LaunchTemplate"]
    wanted = {str(reference.get("id", "")), str(reference.get("name", ""))} - {""}
    # By id or name when the plan knows them; else the template declared next to the group.
    match = [t for t in templates if {t.name, str(t.inputs.get("name", ""))} & wanted] or [
        t for t in templates if t.parent == group.parent and t.name == group.name
    ]
    if not match:
        return None
    for mapping in match[0].inputs.get("blockDeviceMappings") or []:
        ebs = mapping.get("ebs") or {}
        if "volumeSize" in ebs:
            return float(ebs["volumeSize"]), str(ebs.get("volumeType") or "gp3")
    return None


def _public_subnets(ctx: Context, group: Resource) -> bool:
    """Whether the group's nodes start in subnets that give them a public IPv4 address."""
    ids = {str(i) for i in group.inputs.get("subnetIds") or []}
    return any(
        r.inputs.get("mapPublicIpOnLaunch") is True
        for r in ctx.plan.resources
        if r.type == "aws:ec2/subnet:Subnet" and r.id in ids
    )


def price_node_group(ctx: Context, resource: Resource) -> list[Item]:
    inputs = resource.inputs
    scaling = inputs.get("scalingConfig") or {}
    low, high = int(scaling.get("minSize", 0)), int(scaling.get("maxSize", 0))
    desired = int(scaling.get("desiredSize", low))
    types = inputs.get("instanceTypes") or ["t3.medium"]
    instance_type = str(types[0])
    spot = inputs.get("capacityType") == "SPOT"
    gpu = is_gpu_pool(inputs)
    counts = Cost(low, desired, high if gpu else desired)
    hourly = _instance_price(ctx, resource, instance_type, spot)
    disk = _launch_template_disk(ctx, resource) or (
        float(inputs.get("diskSize") or EKS_DEFAULT_DISK_GIB),
        "gp3",
    )
    disk_month = _ebs_month(ctx, resource, disk[1], disk[0])
    kind = "Spot" if spot else "on-demand"

    def per_node(monthly: float) -> Cost:
        return Cost(counts.idle * monthly, counts.typical * monthly, counts.max * monthly)

    items = [
        Item(
            f"{instance_type} {kind} nodes (the first type listed), idle/typical/max "
            f"{low}/{desired}/{high if gpu else desired}",
            per_node(hourly * ctx.hours),
        ),
        Item(f"{disk[0]:g} GiB {disk[1]} root volume per node", per_node(disk_month)),
    ]
    if _public_subnets(ctx, resource):
        ipv4 = ctx.prices_for(resource).public_ipv4_hourly * ctx.hours
        items.append(Item("public IPv4 address per node", per_node(ipv4)))
    return items


def price_instance(ctx: Context, resource: Resource) -> list[Item]:
    instance_type = str(resource.inputs.get("instanceType", ""))
    hourly = _instance_price(ctx, resource, instance_type, spot=False)
    root = resource.inputs.get("rootBlockDevice") or {}
    gib = float(root.get("volumeSize") or EC2_DEFAULT_ROOT_GIB)
    volume_type = str(root.get("volumeType") or "gp3")
    return [
        Item(f"{instance_type} on-demand instance", Cost.flat(hourly * ctx.hours)),
        Item(
            f"{gib:g} GiB {volume_type} root volume",
            Cost.flat(_ebs_month(ctx, resource, volume_type, gib)),
        ),
    ]


def price_volume(ctx: Context, resource: Resource) -> list[Item]:
    gib = float(resource.inputs.get("size") or 0)
    volume_type = str(resource.inputs.get("type") or "gp3")
    return [
        Item(
            f"{gib:g} GiB {volume_type} volume",
            Cost.flat(_ebs_month(ctx, resource, volume_type, gib)),
        )
    ]


def price_cluster(ctx: Context, resource: Resource) -> list[Item]:
    hourly = ctx.prices_for(resource).eks_cluster_hourly
    return [Item("EKS control plane", Cost.flat(hourly * ctx.hours))]


def price_nat_gateway(ctx: Context, resource: Resource) -> list[Item]:
    prices, gb = ctx.prices_for(resource), ctx.prices.usage.nat_gb_per_gateway
    return [
        Item("NAT gateway hours", Cost.flat(prices.nat_gateway_hourly * ctx.hours)),
        Item(
            f"NAT data processed, assumed {gb:g} GB/month",
            Cost.flat(prices.nat_gateway_per_gb * gb),
            usage_based=True,
        ),
    ]


def price_public_ip(ctx: Context, resource: Resource) -> list[Item]:
    hourly = ctx.prices_for(resource).public_ipv4_hourly
    return [Item("public IPv4 address", Cost.flat(hourly * ctx.hours))]


def price_interface_endpoint(ctx: Context, resource: Resource) -> list[Item]:
    if resource.inputs.get("vpcEndpointType") != "Interface":
        return []  # gateway endpoints (S3, DynamoDB) are free
    zones = max(len(resource.inputs.get("subnetIds") or []), 1)
    hourly = ctx.prices_for(resource).interface_endpoint_hourly
    return [Item(f"interface endpoint in {zones} zone(s)", Cost.flat(zones * hourly * ctx.hours))]


def price_load_balancer(ctx: Context, resource: Resource) -> list[Item]:
    hourly = ctx.prices_for(resource).load_balancer_hourly
    return [
        Item("load balancer hours (capacity units not included)", Cost.flat(hourly * ctx.hours))
    ]


def price_bucket(ctx: Context, resource: Resource) -> list[Item]:
    gb = ctx.prices.usage.s3_gb_per_bucket
    month = ctx.prices_for(resource).s3_standard_gb_month * gb
    return [Item(f"S3 Standard storage, assumed {gb:g} GB", Cost.flat(month), usage_based=True)]


def price_key(ctx: Context, resource: Resource) -> list[Item]:
    return [Item("KMS customer managed key", Cost.flat(ctx.prices_for(resource).kms_key_month))]


def price_log_group(ctx: Context, resource: Resource) -> list[Item]:
    prices, usage = ctx.prices_for(resource), ctx.prices.usage
    ingested, stored = usage.log_gb_ingested_per_group, usage.log_gb_stored_per_group
    month = prices.logs_ingested_per_gb * ingested + prices.logs_stored_gb_month * stored
    return [
        Item(
            f"CloudWatch Logs, assumed {ingested:g} GB ingested/month and {stored:g} GB stored",
            Cost.flat(month),
            usage_based=True,
        )
    ]


def price_repository(ctx: Context, resource: Resource) -> list[Item]:
    gb = ctx.prices.usage.ecr_gb_per_repository
    month = ctx.prices_for(resource).ecr_gb_month * gb
    return [Item(f"ECR image storage, assumed {gb:g} GB", Cost.flat(month), usage_based=True)]


def price_secret(ctx: Context, resource: Resource) -> list[Item]:
    return [Item("Secrets Manager secret", Cost.flat(ctx.prices_for(resource).secret_month))]


def _claims(value: Any) -> Iterator[dict[str, Any]]:
    """PersistentVolumeClaim specs anywhere in a Helm release's values."""
    if isinstance(value, dict):
        spec = value.get("spec")
        if "volumeClaimTemplate" in value and isinstance(value["volumeClaimTemplate"], dict):
            yield value["volumeClaimTemplate"].get("spec") or {}
        elif isinstance(spec, dict) and "storageClassName" in spec and "resources" in spec:
            yield spec
        else:
            for child in value.values():
                yield from _claims(child)
    elif isinstance(value, list):
        for child in value:
            yield from _claims(child)


def _aws_region_for_cluster(ctx: Context) -> str | None:
    regions = {str(p.inputs["region"]) for p in ctx.providers.values() if p.inputs.get("region")}
    return regions.pop() if len(regions) == 1 else ctx.default_region


def price_volume_claims(ctx: Context, resource: Resource) -> list[Item]:
    """EBS volumes a Kubernetes object asks for (a chart's PVC templates, a PVC)."""
    source = (
        resource.inputs
        if resource.type.endswith(":PersistentVolumeClaim")
        else decode_json_text(resource.inputs.get("values"))
    )
    claims = list(_claims(source))
    if not claims:
        return []
    region = _aws_region_for_cluster(ctx)
    if region is None:
        raise CostError(f"{resource.urn}: cannot tell the region of its volumes; pass --region")
    prices = ctx.prices.region(region).ebs_gb_month
    items = []
    for claim in claims:
        gib = _gib(((claim.get("resources") or {}).get("requests") or {}).get("storage", 0))
        storage_class = str(claim.get("storageClassName") or "gp3")
        volume_type = next((t for t in prices if t in storage_class), "gp3")
        items.append(
            Item(
                f"{gib:g} GiB volume of storage class {storage_class} ({volume_type})",
                Cost.flat(prices[volume_type] * gib),
            )
        )
    return items


PRICERS: dict[str, Pricer] = {
    "aws:eks/cluster:Cluster": price_cluster,
    "aws:eks/nodeGroup:NodeGroup": price_node_group,
    "aws:ec2/instance:Instance": price_instance,
    "aws:ebs/volume:Volume": price_volume,
    "aws:ec2/natGateway:NatGateway": price_nat_gateway,
    "aws:ec2/eip:Eip": price_public_ip,
    "aws:ec2/vpcEndpoint:VpcEndpoint": price_interface_endpoint,
    "aws:lb/loadBalancer:LoadBalancer": price_load_balancer,
    "aws:alb/loadBalancer:LoadBalancer": price_load_balancer,
    "aws:s3/bucket:Bucket": price_bucket,
    "aws:s3/bucketV2:BucketV2": price_bucket,
    "aws:kms/key:Key": price_key,
    "aws:cloudwatch/logGroup:LogGroup": price_log_group,
    "aws:ecr/repository:Repository": price_repository,
    "aws:secretsmanager/secret:Secret": price_secret,
    "kubernetes:helm.sh/v3:Release": price_volume_claims,
    "kubernetes:core/v1:PersistentVolumeClaim": price_volume_claims,
}


# --- The estimate -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PricedResource:
    urn: str
    type: str
    name: str
    items: list[Item]
    tags: dict[str, str]

    @property
    def cost(self) -> Cost:
        return total(i.cost for i in self.items)

    def as_dict(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            **self.cost.as_dict(),
            "items": [
                {"description": i.description, **i.cost.as_dict(), "usage_based": i.usage_based}
                for i in self.items
            ],
        }


@dataclass(frozen=True)
class Estimate:
    stack: str
    prices: PriceTable
    resources: list[PricedResource]
    # Declared types without a pricing rule: free (IAM, VPC, subnets...) or not modelled.
    not_priced: list[str]

    @property
    def cost(self) -> Cost:
        return total(r.cost for r in self.resources)

    def by_tag(self) -> dict[str, dict[str, dict[str, float]]]:
        grouped: dict[str, dict[str, Cost]] = {key: {} for key in COST_TAG_KEYS}
        for resource in self.resources:
            for key in COST_TAG_KEYS:
                value = resource.tags.get(key, UNTAGGED)
                grouped[key][value] = grouped[key].get(value, Cost()) + resource.cost
        return {
            key: {value: cost.as_dict() for value, cost in sorted(values.items())}
            for key, values in grouped.items()
        }

    def as_dict(self) -> dict[str, Any]:
        cost = self.cost
        return {
            "stack": self.stack,
            "prices_as_of": self.prices.as_of.isoformat(),
            "prices_source": self.prices.source,
            "hours_per_month": self.prices.hours_per_month,
            "idle_monthly_usd": round(cost.idle, 2),
            "typical_monthly_usd": round(cost.typical, 2),
            "max_monthly_usd": round(cost.max, 2),
            "by_resource": [r.as_dict() for r in self.resources],
            "by_tag": self.by_tag(),
            "usage_assumptions": self.prices.usage.model_dump(),
            "not_priced": self.not_priced,
        }


def estimate(plan: Plan, prices: PriceTable, region: str | None = None) -> Estimate:
    ctx = Context(plan=plan, prices=prices, default_region=region)
    priced: list[PricedResource] = []
    not_priced: set[str] = set()
    for resource in plan.resources:
        pricer = PRICERS.get(resource.type)
        if pricer is None:
            if not resource.type.startswith(PROVIDER_PREFIX) and ":" in resource.type:
                not_priced.add(resource.type)
            continue
        items = pricer(ctx, resource)
        if items:
            priced.append(
                PricedResource(
                    resource.urn, resource.type, resource.name, items, ctx.tags_of(resource)
                )
            )
    priced.sort(key=lambda r: (-r.cost.typical, r.urn))
    return Estimate(plan.stack, prices, priced, sorted(not_priced))


def difference(head: Estimate, base: Estimate) -> dict[str, Any]:
    """What changes from `base` to `head`, per resource (by URN) and in total."""
    before = {r.urn: r for r in base.resources}
    after = {r.urn: r for r in head.resources}
    changes = []
    for urn in sorted(before.keys() | after.keys()):
        old, new = before.get(urn), after.get(urn)
        delta = (new.cost if new else Cost()) - (old.cost if old else Cost())
        if delta.is_zero() and old and new:
            continue
        either = new or old
        assert either is not None
        changes.append(
            {
                "urn": urn,
                "type": either.type,
                "name": either.name,
                "change": "added" if old is None else "removed" if new is None else "changed",
                **delta.as_dict(),
            }
        )
    changes.sort(key=lambda c: (-max(abs(c[s]) for s in SCENARIOS), c["urn"]))
    return {
        "base": {f"{s}_monthly_usd": round(getattr(base.cost, s), 2) for s in SCENARIOS},
        "delta": {f"{s}_monthly_usd": v for s, v in (head.cost - base.cost).as_dict().items()},
        "changes": changes,
    }


# --- Output -------------------------------------------------------------------------------------


def _money(amount: float, signed: bool = False) -> str:
    text = f"${abs(amount):,.2f}"
    if signed:
        return ("+" if amount >= 0 else "-") + text
    return text


def render_text(report: dict[str, Any]) -> str:
    lines = [
        f"Monthly cost of stack {report['stack'] or '?'} "
        f"({report['hours_per_month']:g} h, prices as of {report['prices_as_of']})",
        f"  idle    {_money(report['idle_monthly_usd']):>12}   every node pool at its minimum",
        f"  typical {_money(report['typical_monthly_usd']):>12}   desired sizes",
        f"  max     {_money(report['max_monthly_usd']):>12}   GPU pools at their maximum",
        "",
        f"{'idle':>10} {'typical':>10} {'max':>10}  resource",
    ]
    for resource in report["by_resource"]:
        lines.append(
            f"{_money(resource['idle']):>10} {_money(resource['typical']):>10} "
            f"{_money(resource['max']):>10}  {resource['type'].rsplit(':', 1)[-1]} "
            f"{resource['name']}"
        )
        for item in resource["items"]:
            mark = " (usage assumed)" if item["usage_based"] else ""
            lines.append(f"{'':>33}    {item['description']}{mark}")
    lines += ["", "By cost tag (typical):"]
    for key, values in report["by_tag"].items():
        shares = ", ".join(f"{value} {_money(cost['typical'])}" for value, cost in values.items())
        lines.append(f"  {key}: {shares}")
    if "delta" in report:
        lines += ["", _diff_text(report)]
    return "\n".join(lines)


def _diff_text(report: dict[str, Any]) -> str:
    delta, base = report["delta"], report["base"]
    lines = ["Against the base plan:"]
    for scenario in SCENARIOS:
        key = f"{scenario}_monthly_usd"
        lines.append(
            f"  {scenario:<8}{_money(base[key]):>12} -> {_money(report[key]):>12} "
            f"({_money(delta[key], signed=True)})"
        )
    for change in report["changes"]:
        lines.append(
            f"  {_money(change['typical'], signed=True):>12}  {change['change']:<8}"
            f"{change['type'].rsplit(':', 1)[-1]} {change['name']}"
        )
    return "\n".join(lines)


def _row(label: str, values: dict[str, Any], signed: bool = False) -> str:
    cells = " | ".join(_money(values[f"{s}_monthly_usd"], signed) for s in SCENARIOS)
    return f"| {label} | {cells} |"


def render_markdown(report: dict[str, Any]) -> str:
    """A pull-request comment: totals, and the per-resource difference when there is a base."""
    rows = [_row("this change", report)]
    if "delta" in report:
        rows = [_row("base", report["base"]), *rows, _row("difference", report["delta"], True)]
    lines = [
        f"### Monthly cost estimate: stack `{report['stack'] or '?'}`",
        "",
        "| | idle | typical | max |",
        "|---|---:|---:|---:|",
        *rows,
        "",
        f"Idle: every node pool at its minimum; typical: desired sizes; max: GPU pools at their "
        f"maximum. {report['hours_per_month']:g} h/month, list prices as of "
        f"{report['prices_as_of']}; usage-priced items use the price table's assumptions.",
    ]
    if report.get("changes"):
        lines += ["", "| resource | change | idle | typical | max |", "|---|---|---:|---:|---:|"]
        lines += [
            f"| `{c['type'].rsplit(':', 1)[-1]}` {c['name']} | {c['change']} | "
            + " | ".join(_money(c[s], True) for s in SCENARIOS)
            + " |"
            for c in report["changes"]
        ]
    return "\n".join(lines)


def report(
    plan: Plan, prices: PriceTable, base: Plan | None = None, region: str | None = None
) -> dict[str, Any]:
    head = estimate(plan, prices, region)
    result = head.as_dict()
    if base is not None:
        result |= difference(head, estimate(base, prices, region))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.tools.cost", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--stack", required=True, help="the stack to price (dev, prod, ...)")
    parser.add_argument(
        "--plan", type=Path, help="a plan JSON file instead of running infra.tools.plan"
    )
    parser.add_argument("--base", type=Path, help="a plan JSON file to compare against")
    parser.add_argument(
        "--prices",
        type=Path,
        default=Path(os.environ.get(PRICES_ENV) or PRICES_FILE),
        help=f"the price table (default: ${PRICES_ENV} or infra/tools/cost/prices.yaml)",
    )
    parser.add_argument("--region", help="the region when the plan's AWS provider names none")
    parser.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    args = parser.parse_args(argv)
    try:
        prices = load_prices(args.prices)
        plan = load_plan(args.plan) if args.plan else run_plan(args.stack)
        if not plan.stack:
            plan = Plan(stack=args.stack, resources=plan.resources)
        base = load_plan(args.base) if args.base else None
        result = report(plan, prices, base, args.region)
    except CostError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    render: dict[str, Callable[[dict[str, Any]], str]] = {
        "json": lambda r: json.dumps(r, indent=2),
        "text": render_text,
        "markdown": render_markdown,
    }
    try:
        print(render[args.format](result))
    except BrokenPipeError:
        # The reader (`| head`) left early: not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
