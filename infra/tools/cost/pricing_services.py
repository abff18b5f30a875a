"""Pricing rules for managed services billed per item or by usage: KMS keys, logs, secrets."""

from __future__ import annotations

from infra.tools.cost.context import Context
from infra.tools.cost.money import Cost, Item
from infra.tools.cost.plan_input import Resource


def price_key(ctx: Context, resource: Resource) -> list[Item]:
    return [Item("KMS customer managed key", Cost.flat(ctx.prices_for(resource).kms_key_month))]


# The tag infra/components/flow_logs.py puts on the VPC's flow-log group.
FLOW_LOG_TAG = ("purpose", "vpc-flow-logs")


def is_flow_log_group(resource: Resource) -> bool:
    tags = resource.inputs.get("tags")
    key, value = FLOW_LOG_TAG
    return isinstance(tags, dict) and tags.get(key) == value


def price_log_group(ctx: Context, resource: Resource) -> list[Item]:
    prices, usage = ctx.prices_for(resource), ctx.prices.usage
    flow_logs = is_flow_log_group(resource)
    ingested = usage.flow_log_gb_per_month if flow_logs else usage.log_gb_ingested_per_group
    stored = usage.log_gb_stored_per_group
    month = prices.logs_ingested_per_gb * ingested + prices.logs_stored_gb_month * stored
    # Flow logs are vended logs, billed below the standard ingestion rate used here (an upper
    # bound until the table carries that price).
    what = "CloudWatch Logs (VPC flow logs, at the standard rate; vended logs cost less)"
    return [
        Item(
            f"{what if flow_logs else 'CloudWatch Logs'}, assumed {ingested:g} GB "
            f"ingested/month and {stored:g} GB stored",
            Cost.flat(month),
            usage_based=True,
        )
    ]


def price_secret(ctx: Context, resource: Resource) -> list[Item]:
    return [Item("Secrets Manager secret", Cost.flat(ctx.prices_for(resource).secret_month))]


def price_queue(ctx: Context, resource: Resource) -> list[Item]:
    # SQS bills requests past the account's first million a month; Karpenter's interruption queue
    # sees a long poll every 20 s (about 130,000 a month) and a few interruption events.
    return [
        Item(
            "SQS requests, assumed within the free first 1M a month (Karpenter's long polls, "
            "about 130k, and a few interruption events)",
            Cost(),
            usage_based=True,
        )
    ]
