"""What a pricing rule may look at: the whole plan, the prices, the region and a resource's tags."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.settings import decode_json_text
from infra.tools.cost.errors import CostError
from infra.tools.cost.money import Item
from infra.tools.cost.plan_input import PROVIDER_PREFIX, Plan, Resource
from infra.tools.cost.prices import PriceTable, RegionPrices


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
        if not resource.type.startswith("aws:"):
            # A Kubernetes object's volumes and nodes are in its cluster's region: the plan's one.
            regions = {
                str(p.inputs["region"]) for p in self.providers.values() if p.inputs.get("region")
            }
            region = regions.pop() if len(regions) == 1 else self.default_region
            if not region:
                raise CostError(f"{resource.urn}: cannot tell its cluster's region; pass --region")
            return region
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


# A pricing rule: the bill lines of one resource (none when it costs nothing).
Pricer = Callable[[Context, Resource], list[Item]]


def instance_price(ctx: Context, resource: Resource, instance_type: str, spot: bool) -> float:
    hourly, key = ctx.prices_for(resource).instance_hourly(instance_type, spot)
    if hourly is None:
        region = ctx.region_of(resource)
        raise CostError(
            f"{resource.urn}: no price for {instance_type} under "
            f"regions.{region}.{key} in the price table: run `make prices REGION={region}` "
            "(needs AWS credentials) or add it by hand"
        )
    return hourly


def ebs_month(ctx: Context, resource: Resource, volume_type: str, gib: float) -> float:
    prices = ctx.prices_for(resource).ebs_gb_month
    if volume_type not in prices:
        raise CostError(f"{resource.urn}: no EBS price for volume type {volume_type!r}")
    return prices[volume_type] * gib
