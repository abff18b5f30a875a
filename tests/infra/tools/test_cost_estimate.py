"""The offline cost estimate against small plans whose bills were worked out by hand.

The bill, line by line, is in tests/infra/tools/cost_data.py: scenarios (idle, typical, max), the
difference against a base plan, spend by cost tag, region-aware prices and malformed plans.
"""

from __future__ import annotations

from typing import Any

import pytest

from infra.tools.cost import (
    CostError,
    estimate,
    load_plan,
    load_prices,
    parse_plan,
    report,
)
from tests.infra.tools.cost_data import (
    BUCKET,
    DATA,
    GPU_NODE,
    HOURS,
    IDLE,
    LOGS,
    MAX,
    PRICES,
    PROMETHEUS_VOLUME,
    PUBLIC_IP,
    REGISTRY,
    SYSTEM_NODE,
    TYPICAL,
    tiny_plan,
)


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    return report(load_plan(DATA / "small.json"), load_prices(PRICES))


def by_name(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in result["by_resource"]}


def test_totals_match_the_hand_computed_bill(result: dict[str, Any]) -> None:
    assert [round(x, 2) for x in (IDLE, TYPICAL, MAX)] == [136.65, 146.95, 1626.95]
    assert result["idle_monthly_usd"] == pytest.approx(IDLE)
    assert result["typical_monthly_usd"] == pytest.approx(TYPICAL)
    assert result["max_monthly_usd"] == pytest.approx(MAX)
    assert sum(r["typical"] for r in result["by_resource"]) == pytest.approx(TYPICAL)


def test_node_pools_scale_with_the_scenario(result: dict[str, Any]) -> None:
    resources = by_name(result)
    system, gpu = resources["system"], resources["gpu"]
    assert (system["idle"], system["typical"], system["max"]) == pytest.approx(
        (SYSTEM_NODE, 2 * SYSTEM_NODE, 2 * SYSTEM_NODE)
    )
    # A GPU pool scaled to zero costs nothing until a GPU pod arrives.
    assert (gpu["idle"], gpu["typical"], gpu["max"]) == pytest.approx((0, 0, 2 * GPU_NODE))
    assert "30 GiB gp3" in system["items"][1]["description"]


def test_usage_priced_lines_say_so(result: dict[str, Any]) -> None:
    usage = {
        item["description"]
        for resource in result["by_resource"]
        for item in resource["items"]
        if item["usage_based"]
    }
    assert {d.split(",")[0].split(" assumed")[0] for d in usage} == {
        "NAT data processed",
        "S3 Standard storage",
        "CloudWatch Logs",
        "ECR image storage",
    }
    assert all("assumed" in d for d in usage)
    assert result["usage_assumptions"]["nat_gb_per_gateway"] == 100


def test_spend_is_grouped_by_cost_tag(result: dict[str, Any]) -> None:
    tags = result["by_tag"]
    assert tags["environment"] == {
        "dev": {"idle": round(IDLE, 2), "typical": round(TYPICAL, 2), "max": round(MAX, 2)}
    }
    # One bucket overrides the provider's default `team` tag.
    assert tags["team"]["data"]["typical"] == pytest.approx(BUCKET)
    # The fixture's provider tags its resources with the team "fixture-team" (hand-written data).
    assert tags["team"]["fixture-team"]["typical"] == pytest.approx(TYPICAL - BUCKET)
    # The chart's volume carries the cost labels only (no managed-by/repository tags).
    assert tags["managed-by"]["(untagged)"]["typical"] == pytest.approx(PROMETHEUS_VOLUME)


def test_free_types_are_listed_as_not_priced(result: dict[str, Any]) -> None:
    assert "aws:iam/role:Role" in result["not_priced"]
    assert "aws:ec2/launchTemplate:LaunchTemplate" in result["not_priced"]
    assert not any(t.startswith("pulumi:providers:") for t in result["not_priced"])
    assert result["not_modelled"] == []  # both are declared free


def test_difference_against_a_base_plan() -> None:
    # The base lets the GPU pool grow to 1 node only, has no registry and one more public IP.
    result = report(
        load_plan(DATA / "small.json"), load_prices(PRICES), load_plan(DATA / "small-base.json")
    )
    assert result["base"]["typical_monthly_usd"] == pytest.approx(TYPICAL - REGISTRY + PUBLIC_IP)
    assert result["base"]["max_monthly_usd"] == pytest.approx(
        TYPICAL - REGISTRY + PUBLIC_IP + GPU_NODE
    )
    assert result["delta"] == pytest.approx(
        {
            "idle_monthly_usd": REGISTRY - PUBLIC_IP,
            "typical_monthly_usd": REGISTRY - PUBLIC_IP,
            "max_monthly_usd": REGISTRY - PUBLIC_IP + GPU_NODE,
        }
    )
    changes = {(c["name"], c["change"]): c for c in result["changes"]}
    assert set(changes) == {("gpu", "changed"), ("bentos", "added"), ("network-nat-1", "removed")}
    assert changes[("gpu", "changed")]["max"] == pytest.approx(GPU_NODE)
    assert changes[("gpu", "changed")]["idle"] == 0
    assert changes[("network-nat-1", "removed")]["typical"] == pytest.approx(-PUBLIC_IP)


def test_prices_follow_the_providers_region() -> None:
    prices = load_prices(PRICES)
    # eu-west-1 in the fixture: t3.medium 0.08/h, gp3 0.20/GB; default 20 GiB root volume.
    eu = estimate(tiny_plan("eu-west-1"), prices).cost.typical
    assert eu == pytest.approx(0.08 * HOURS + 20 * 0.20)
    us = estimate(tiny_plan("us-east-1"), prices).cost.typical
    assert us == pytest.approx(0.04 * HOURS + 20 * 0.10)


def test_nodes_in_public_subnets_pay_for_their_addresses() -> None:
    subnet = {
        "urn": "urn:pulumi:dev::p::aws:ec2/subnet:Subnet::public",
        "type": "aws:ec2/subnet:Subnet",
        "name": "public",
        "id": "subnet-1",
        "inputs": {"mapPublicIpOnLaunch": True},
    }
    prices = load_prices(PRICES)
    private = estimate(tiny_plan("us-east-1", subnetIds=["subnet-2"]), prices).cost.typical
    public = estimate(tiny_plan("us-east-1", subnet, subnetIds=["subnet-1"]), prices).cost.typical
    assert public - private == pytest.approx(0.005 * HOURS)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "not a plan"),
        ({"resources": [{"name": "x"}]}, r"resources\[0\].type: missing"),
        ({"resources": [{"type": "aws:kms/key:Key", "name": "k", "inputs": []}]}, "inputs"),
    ],
)
def test_bad_plans_name_the_key(data: Any, message: str) -> None:
    with pytest.raises(CostError, match=message):
        parse_plan(data, "plan.json")


def test_flow_log_group_is_priced_by_the_flow_log_assumption() -> None:
    group = {
        "urn": "urn:pulumi:dev::p::aws:cloudwatch/logGroup:LogGroup::network-flow-logs",
        "type": "aws:cloudwatch/logGroup:LogGroup",
        "name": "network-flow-logs",
        "provider": "urn:pulumi:dev::p::pulumi:providers:aws::aws::id",
        "inputs": {"tags": {"purpose": "vpc-flow-logs"}},
    }
    plain = {**group, "urn": f"{group['urn']}-plain", "inputs": {"tags": {"purpose": "other"}}}
    prices = load_prices(PRICES)
    base = estimate(tiny_plan("us-east-1"), prices).cost.typical
    # The fixture assumes 4 GB of flow logs a month (2 GB for other groups), 10 GB stored.
    flow = estimate(tiny_plan("us-east-1", group), prices).cost.typical - base
    other = estimate(tiny_plan("us-east-1", plain), prices).cost.typical - base
    assert flow == pytest.approx(4 * 0.50 + 10 * 0.03)
    assert other == pytest.approx(LOGS)
