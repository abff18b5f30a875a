"""Pricing rules for storage: EBS volumes (also a chart's volume claims), S3 buckets, ECR images."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from infra.settings import decode_json_text
from infra.tools.cost.context import Context, ebs_month
from infra.tools.cost.money import Cost, Item
from infra.tools.cost.plan_input import Resource
from infra.tools.cost.quantity import gib


def price_volume(ctx: Context, resource: Resource) -> list[Item]:
    size = float(resource.inputs.get("size") or 0)
    volume_type = str(resource.inputs.get("type") or "gp3")
    return [
        Item(
            f"{size:g} GiB {volume_type} volume",
            Cost.flat(ebs_month(ctx, resource, volume_type, size)),
        )
    ]


def price_bucket(ctx: Context, resource: Resource) -> list[Item]:
    gb = ctx.prices.usage.s3_gb_per_bucket
    month = ctx.prices_for(resource).s3_standard_gb_month * gb
    return [Item(f"S3 Standard storage, assumed {gb:g} GB", Cost.flat(month), usage_based=True)]


def price_repository(ctx: Context, resource: Resource) -> list[Item]:
    gb = ctx.prices.usage.ecr_gb_per_repository
    month = ctx.prices_for(resource).ecr_gb_month * gb
    return [Item(f"ECR image storage, assumed {gb:g} GB", Cost.flat(month), usage_based=True)]


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
    prices = ctx.prices_for(resource).ebs_gb_month
    items = []
    for claim in claims:
        size = gib(((claim.get("resources") or {}).get("requests") or {}).get("storage", 0))
        storage_class = str(claim.get("storageClassName") or "gp3")
        volume_type = next((t for t in prices if t in storage_class), "gp3")
        items.append(
            Item(
                f"{size:g} GiB volume of storage class {storage_class} ({volume_type})",
                Cost.flat(prices[volume_type] * size),
            )
        )
    return items
