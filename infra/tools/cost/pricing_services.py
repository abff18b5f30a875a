"""Pricing rules for managed services billed per item or by usage: KMS keys, logs, secrets."""

from __future__ import annotations

from infra.tools.cost.context import Context
from infra.tools.cost.money import Cost, Item
from infra.tools.cost.plan_input import Resource


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


def price_secret(ctx: Context, resource: Resource) -> list[Item]:
    return [Item("Secrets Manager secret", Cost.flat(ctx.prices_for(resource).secret_month))]
