"""The price table: missing prices and keys, per-region dates, and the repository's own table."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.settings.catalogue import gpu_shape
from infra.tools import cost
from infra.tools.cost import (
    CostError,
    Plan,
    estimate,
    fetch,
    load_prices,
    report,
)
from tests.infra.tools.cost_data import (
    PRICES,
    tiny_plan,
)


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (tiny_plan("eu-west-1", instanceTypes=["g5.xlarge"]), "regions.eu-west-1.ec2_on_demand"),
        (tiny_plan("ap-south-1"), "no prices for region 'ap-south-1'"),
    ],
)
def test_missing_prices_name_the_key(plan: Plan, message: str) -> None:
    with pytest.raises(CostError, match=message):
        estimate(plan, load_prices(PRICES))


def test_a_region_without_prices_names_the_command_that_fetches_them() -> None:
    with pytest.raises(CostError) as raised:
        estimate(tiny_plan("eu-central-1"), load_prices(PRICES))
    assert str(raised.value).endswith(
        "no prices for region 'eu-central-1' under `regions` (eu-west-1, us-east-1): "
        "run `make prices REGION=eu-central-1` (needs AWS credentials)"
    )


def test_a_fetched_region_reports_its_own_date(tmp_path: Path) -> None:
    table = PRICES.read_text().replace("  eu-west-1:\n", '  eu-west-1:\n    as_of: "2026-03-01"\n')
    (tmp_path / "prices.yaml").write_text(table)
    prices = load_prices(tmp_path / "prices.yaml")
    assert report(tiny_plan("eu-west-1"), prices)["prices_as_of"] == "2026-03-01"
    assert report(tiny_plan("us-east-1"), prices)["prices_as_of"] == "2026-01-01"


def test_bad_price_tables_name_the_key(tmp_path: Path) -> None:
    table = PRICES.read_text().replace("hours_per_month: 730", "hours_per_month: -1")
    (tmp_path / "prices.yaml").write_text(table)
    with pytest.raises(CostError, match="hours_per_month"):
        load_prices(tmp_path / "prices.yaml")


def test_a_price_table_without_the_flow_log_assumption_names_it(tmp_path: Path) -> None:
    table = PRICES.read_text().replace("  flow_log_gb_per_month: 4\n", "")
    (tmp_path / "prices.yaml").write_text(table)
    with pytest.raises(CostError, match=r"usage\.flow_log_gb_per_month"):
        load_prices(tmp_path / "prices.yaml")


def test_the_repository_price_table_is_complete() -> None:
    prices = load_prices(cost.PRICES_FILE)
    assert {"us-east-1", "eu-west-1"} <= prices.regions.keys()
    assert "aws.amazon.com" in prices.source
    types = {frozenset(r.ec2_on_demand_hourly) for r in prices.regions.values()}
    types |= {frozenset(r.ec2_spot_hourly) for r in prices.regions.values()}
    assert len(types) == 1, "every region prices the same instance types, Spot and on-demand"
    for region in prices.regions.values():
        assert region.eks_cluster_hourly == 0.10
        for name, hourly in region.ec2_spot_hourly.items():
            assert 0 < hourly < region.ec2_on_demand_hourly[name], name
    families = {t.split(".")[0] for t in next(iter(types))}
    assert {"t3", "m6i", "m7i", "g4dn", "g5", "g6"} <= families


def test_the_repository_price_table_prices_every_type_the_stacks_may_start() -> None:
    """A NodePool's max looks at every type it allows, not only those a pod would start."""
    prices = load_prices(cost.PRICES_FILE)
    wanted = set(fetch.stack_instance_types())
    assert any(gpu_shape(t) for t in wanted)
    for name, region in prices.regions.items():
        assert wanted <= region.ec2_on_demand_hourly.keys(), name
        assert wanted <= region.ec2_spot_hourly.keys(), name
