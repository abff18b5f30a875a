"""The cost estimate of the real dev and prod stacks against the repository's price table."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.tools import cost
from infra.tools.cost import (
    load_prices,
    parse_plan,
    report,
)
from tests.infra.tools.cost_data import (
    HOURS,
)
from tests.support.pulumi_unit import stack_settings
from tests.support.rendering import stack_plan

EKS_FEE = 0.10 * HOURS
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
# The dearest type each NodePool's limits allow most of (hand-picked from the stack files and
# the price table): both capacity types price on-demand, the worst case; prod's first is Spot.
MAX_NODES = {
    ("dev", "gpu-inference"): (2, "g5.2xlarge", "on-demand"),
    ("dev", "gpu-training"): (1, "g5.2xlarge", "on-demand"),
    ("prod", "gpu-inference"): (8, "g5.2xlarge", "spot"),
    ("prod", "gpu-inference-od"): (4, "g5.xlarge", "on-demand"),
    ("prod", "gpu-training"): (4, "g5.4xlarge", "on-demand"),
}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_gpu_node_pools_cost_nothing_until_used_and_their_limits_at_most(stack: str) -> None:
    prices = load_prices(cost.PRICES_FILE)
    region = prices.region("us-east-1")
    settings = stack_settings(stack)
    plan = stack_plan(stack)
    result = report(parse_plan(plan, stack), prices)
    urns = {
        r["inputs"]["metadata"]["name"]: r["urn"]
        for r in plan["resources"]
        if r["type"] == NODE_POOL
    }
    assert set(urns) == {p.name for p in settings.cluster.node_pools}
    priced_by_urn = {r["urn"]: r for r in result["by_resource"]}
    public = stack == "dev"  # dev's nodes start in public subnets (no NAT)
    for pool in settings.cluster.node_pools:
        priced = priced_by_urn[urns[pool.name]]
        nodes, instance_type, capacity = MAX_NODES[(stack, pool.name)]
        disk = settings.cluster.karpenter.node_classes[pool.ami_family].disk_size_gib
        hourly, _ = region.instance_hourly(instance_type, spot=capacity == "spot")
        assert hourly is not None
        per_node = hourly * HOURS + disk * region.ebs_gb_month["gp3"]
        per_node += region.public_ipv4_hourly * HOURS if public else 0
        assert (priced["idle"], priced["typical"]) == (0, 0), pool.name
        assert priced["max"] == pytest.approx(nodes * per_node, abs=0.01), pool.name
        line = priced["items"][0]["description"]
        assert line.startswith(f"max: {nodes} x {instance_type} {capacity} (limits gpus "), line
    assert result["idle_monthly_usd"] <= result["typical_monthly_usd"] <= result["max_monthly_usd"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_planned_type_is_priced_or_declared_free(stack: str) -> None:
    """Each type has a pricing rule or is declared free (pricers.py): none is $0 by omission."""
    result = report(parse_plan(stack_plan(stack), stack), load_prices(cost.PRICES_FILE))
    assert result["not_modelled"] == []


def test_dev_idles_under_its_target() -> None:
    """An idle dev stack costs at most 1.6 times the EKS control-plane fee."""
    result = report(parse_plan(stack_plan("dev"), "dev"), load_prices(cost.PRICES_FILE))
    assert result["idle_monthly_usd"] <= 1.6 * EKS_FEE, json.dumps(
        {r["name"]: r["idle"] for r in result["by_resource"]}
    )


def test_nodes_in_public_subnets_pay_for_their_addresses_in_the_real_stacks() -> None:
    """dev's nodes run in public subnets (no NAT) and pay for an IPv4 address each; prod's don't."""
    prices = load_prices(cost.PRICES_FILE)
    for stack, public in (("dev", True), ("prod", False)):
        result = report(parse_plan(stack_plan(stack), stack), prices)
        (system,) = [r for r in result["by_resource"] if r["name"] == "system"]
        addresses = [i for i in system["items"] if "public IPv4" in i["description"]]
        assert bool(addresses) == public, stack
        if public:
            nodes = stack_settings(stack).cluster.system_pool.min_size
            assert addresses[0]["idle"] == pytest.approx(nodes * 0.005 * HOURS)


def flow_log_lines(stack: str) -> list[dict[str, Any]]:
    result = report(parse_plan(stack_plan(stack), stack), load_prices(cost.PRICES_FILE))
    return [
        item
        for resource in result["by_resource"]
        for item in resource["items"]
        if "VPC flow logs" in item["description"]
    ]


def test_prod_pays_for_its_flow_logs_and_dev_does_not() -> None:
    """prod records its VPC traffic (5 GB/month assumed, 2 GB stored); dev ships with it off."""
    prices = load_prices(cost.PRICES_FILE)
    region, usage = prices.region("us-east-1"), prices.usage
    monthly = (
        region.logs_ingested_per_gb * usage.flow_log_gb_per_month
        + region.logs_stored_gb_month * usage.log_gb_stored_per_group
    )
    (line,) = flow_log_lines("prod")
    assert line["usage_based"] and "vended logs cost less" in line["description"]
    assert line["typical"] == pytest.approx(monthly) == pytest.approx(2.56)
    assert flow_log_lines("dev") == []
