"""The cost estimate of the real dev and prod stacks against the repository's price table."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.settings import is_gpu_pool
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


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_gpu_pools_cost_nothing_when_idle(stack: str) -> None:
    plan = stack_plan(stack)
    gpu_pools = {
        r["urn"]
        for r in plan["resources"]
        if r["type"] == "aws:eks/nodeGroup:NodeGroup" and is_gpu_pool(r["inputs"])
    }
    assert gpu_pools
    result = report(parse_plan(plan, stack), load_prices(cost.PRICES_FILE))
    priced = {r["urn"]: r for r in result["by_resource"]}
    for urn in gpu_pools:
        assert priced[urn]["idle"] == 0
        assert priced[urn]["max"] > 0
    assert result["idle_monthly_usd"] <= result["typical_monthly_usd"] <= result["max_monthly_usd"]


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
