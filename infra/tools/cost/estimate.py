"""The estimate of a plan (per resource, per cost tag, in total) and its difference to a base."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.tools.cost.context import Context
from infra.tools.cost.money import SCENARIOS, Cost, Item, total
from infra.tools.cost.plan_input import PROVIDER_PREFIX, Plan
from infra.tools.cost.pricers import PRICERS, is_free
from infra.tools.cost.prices import PriceTable
from ml.core.identity import COST_TAG_KEYS

UNTAGGED = "(untagged)"


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
    # The regions the plan's AWS providers (or --region) name: whose prices' date to report.
    regions: frozenset[str] = frozenset()

    @property
    def cost(self) -> Cost:
        return total(r.cost for r in self.resources)

    @property
    def not_modelled(self) -> list[str]:
        """Types without a rule that are not known to be free: priced at $0, maybe wrongly."""
        return [t for t in self.not_priced if not is_free(t)]

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
            "prices_as_of": self.prices.as_of_for(self.regions).isoformat(),
            "prices_source": self.prices.source,
            "hours_per_month": self.prices.hours_per_month,
            "idle_monthly_usd": round(cost.idle, 2),
            "typical_monthly_usd": round(cost.typical, 2),
            "max_monthly_usd": round(cost.max, 2),
            "by_resource": [r.as_dict() for r in self.resources],
            "by_tag": self.by_tag(),
            "usage_assumptions": self.prices.usage.model_dump(),
            "not_priced": self.not_priced,
            "not_modelled": self.not_modelled,
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
    regions = {str(p.inputs["region"]) for p in ctx.providers.values() if p.inputs.get("region")}
    regions |= {region} if region else set()
    return Estimate(plan.stack, prices, priced, sorted(not_priced), frozenset(regions))


def _change(urn: str, old: PricedResource | None, new: PricedResource | None) -> dict[str, Any]:
    delta = (new.cost if new else Cost()) - (old.cost if old else Cost())
    either = new or old
    assert either is not None
    return {
        "urn": urn,
        "type": either.type,
        "name": either.name,
        "change": "added" if old is None else "removed" if new is None else "changed",
        **delta.as_dict(),
    }


def difference(head: Estimate, base: Estimate) -> dict[str, Any]:
    """What changes from `base` to `head`, per resource (by URN) and in total."""
    before = {r.urn: r for r in base.resources}
    after = {r.urn: r for r in head.resources}
    changes = []
    for urn in sorted(before.keys() | after.keys()):
        old, new = before.get(urn), after.get(urn)
        if old and new and (new.cost - old.cost).is_zero():
            continue
        changes.append(_change(urn, old, new))
    changes.sort(key=lambda c: (-max(abs(c[s]) for s in SCENARIOS), c["urn"]))
    return {
        "base": {f"{s}_monthly_usd": round(getattr(base.cost, s), 2) for s in SCENARIOS},
        "delta": {f"{s}_monthly_usd": v for s, v in (head.cost - base.cost).as_dict().items()},
        "changes": changes,
    }


def report(
    plan: Plan, prices: PriceTable, base: Plan | None = None, region: str | None = None
) -> dict[str, Any]:
    """The estimate as the JSON the command prints, with the difference when there is a base."""
    head = estimate(plan, prices, region)
    result = head.as_dict()
    if base is not None:
        result |= difference(head, estimate(base, prices, region))
    return result
