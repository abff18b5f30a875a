"""Pricing rules for the network: NAT gateways, public IPv4 addresses, endpoints, load balancers."""

from __future__ import annotations

from infra.tools.cost.context import Context
from infra.tools.cost.money import Cost, Item
from infra.tools.cost.plan_input import Resource


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


def price_service(ctx: Context, resource: Resource) -> list[Item]:
    spec = resource.inputs.get("spec")
    if not isinstance(spec, dict) or spec.get("type") != "LoadBalancer":
        return []  # ClusterIP and NodePort services cost nothing beyond their nodes
    return price_load_balancer(ctx, resource)
