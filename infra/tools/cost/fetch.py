"""`python -m infra.tools.cost prices --region R` (`make prices REGION=R`): R's list prices.

It asks AWS (the caller's credentials) for every price the estimate reads in region R: the
items of prices.py's RegionPrices, the EBS volume types, and the on-demand and Spot rates of
every instance type the stack files may start (the system node group's, and each family x size
a Karpenter NodePool allows) or the table already lists (infra/tools/cost/price_list.py says
where each one comes from), then writes them under `regions.R` of the price
table with the day they were fetched as the region's `as_of`. The rest of the file, comments
included, stays as it is. A price the stacks need that AWS doesn't give fails naming its key,
and nothing is written; instance types only the table lists and R doesn't offer are left out.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from infra.settings import ClusterSettings
from infra.tools.cost.errors import CostError
from infra.tools.cost.price_file import (
    checked,
    region_indent,
    render_region,
    with_region,
    write_atomically,
)
from infra.tools.cost.price_list import (
    EBS_VOLUME_TYPES,
    ITEMS,
    PRICING_REGION,
    PriceList,
    ebs_item,
    instance_item,
    spot_prices,
)
from infra.tools.cost.prices import PRICES_ENV, PRICES_FILE, PriceTable, RegionPrices, load_prices
from infra.tools.plan import project_name, stack_config
from ml.core.aws_regions import AWS_REGIONS
from ml.core.errors import problems
from ml.core.paths import REPO_ROOT

NO_CREDENTIALS = (
    "prices: no AWS credentials: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY) to an identity allowed pricing:GetProducts and "
    "ec2:DescribeSpotPriceHistory; nothing written"
)


@dataclass(frozen=True)
class Wanted:
    """What to price: instance types in the table's order, the ones the stacks use required."""

    instance_types: tuple[str, ...]
    required: frozenset[str]
    volume_types: tuple[str, ...] = EBS_VOLUME_TYPES


@dataclass
class Fetched:
    values: dict[str, Any]
    skipped: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        prices = [v for k, v in self.values.items() if k != "as_of"]
        return sum(len(v) if isinstance(v, dict) else 1 for v in prices)


def stack_instance_types(root: Path = REPO_ROOT) -> list[str]:
    """The instance types the stack files (Pulumi.<stack>.yaml) may start, first seen first.

    The system node group's, and every family x size a Karpenter NodePool allows.
    """
    project, found = project_name(root), []
    for path in sorted(root.glob("Pulumi.*.yaml")):
        section = stack_config(path.name.split(".")[1], root).get(f"{project}:cluster")
        if section is None:
            continue
        try:
            cluster = ClusterSettings.model_validate(section)
        except ValidationError as error:
            found_problems = "; ".join(problems(error))
            raise CostError(f"{path.name} {project}:cluster: {found_problems}") from None
        types = [*cluster.system_pool.instance_types]
        types += [t for pool in cluster.node_pools for t in pool.shapes]
        found = list(dict.fromkeys([*found, *types]))
    return found


def wanted_for(table: PriceTable, stack_types: Sequence[str]) -> Wanted:
    listed = [t for region in table.regions.values() for t in region.ec2_on_demand_hourly]
    types = list(dict.fromkeys([*listed, *stack_types]))
    volumes = [v for region in table.regions.values() for v in region.ebs_gb_month]
    return Wanted(
        tuple(types), frozenset(stack_types), tuple(dict.fromkeys([*volumes, *EBS_VOLUME_TYPES]))
    )


def fetch_region(pricing: Any, ec2: Any, region: str, wanted: Wanted, now: datetime) -> Fetched:
    """The region's prices in the table's key order, or a CostError naming each missing key."""
    prices = PriceList(pricing, region)
    flat: dict[str, Any] = {"as_of": now.date().isoformat()}
    flat |= {item.key: prices.price(item) for item in ITEMS}
    flat["ebs_gb_month"] = {v: prices.price(ebs_item(v)) for v in wanted.volume_types}
    missing = [k for k, v in flat.items() if v is None]
    missing += [f"ebs_gb_month.{v}" for v, p in flat["ebs_gb_month"].items() if p is None]
    on_demand = {t: prices.price(instance_item(t)) for t in wanted.instance_types}
    spot = spot_prices(ec2, [t for t, p in on_demand.items() if p is not None], now)
    fetched = Fetched(flat)
    for name in wanted.instance_types:
        if on_demand[name] is not None and name in spot:
            continue
        key = "ec2_on_demand_hourly" if on_demand.pop(name) is None else "ec2_spot_hourly"
        if name in wanted.required:
            missing.append(f"{key}.{name}")
        else:
            fetched.skipped.append(name)
    if missing:
        raise CostError(
            f"prices: AWS gives no {region} price for {', '.join(missing)}; nothing written"
        )
    flat["ec2_on_demand_hourly"] = on_demand
    flat["ec2_spot_hourly"] = {t: spot[t] for t in on_demand}
    fetched.values = {k: flat[k] for k in RegionPrices.model_fields if k in flat}
    return fetched


def aws_clients(region: str) -> tuple[Any, Any]:
    """The Price List API's client and the region's EC2 client, with the caller's credentials."""
    session = boto3.Session()
    if session.get_credentials() is None:
        raise CostError(NO_CREDENTIALS)
    return (
        session.client("pricing", region_name=PRICING_REGION),
        session.client("ec2", region_name=region),
    )


def update(path: Path, region: str, now: datetime, root: Path = REPO_ROOT) -> Fetched:
    """Fetch the region's prices and write them into the table at `path`."""
    if region not in AWS_REGIONS:
        raise CostError(f"--region: {region!r} is not an AWS commercial region")
    before = load_prices(path)
    text = path.read_text(encoding="utf-8")
    wanted = wanted_for(before, stack_instance_types(root))
    try:
        pricing, ec2 = aws_clients(region)
        fetched = fetch_region(pricing, ec2, region, wanted, now)
    except (BotoCoreError, ClientError) as error:
        raise CostError(f"prices: asking AWS for {region}'s prices failed: {error}") from None
    comment = (
        f"Fetched by `make prices REGION={region}` (Spot: each zone's latest price, averaged)."
    )
    block = render_region(region, fetched.values, comment, region_indent(text, path))
    rewritten = with_region(text, region, block, path)
    checked(rewritten, region, before, path)
    write_atomically(path, rewritten)
    return fetched


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.tools.cost prices",
        description="Fetch a region's AWS list prices into the price table (AWS credentials).",
    )
    parser.add_argument("--region", required=True, help="the AWS region to price")
    parser.add_argument(
        "--prices",
        type=Path,
        default=Path(os.environ.get(PRICES_ENV) or PRICES_FILE),
        help=f"the price table to write (default: ${PRICES_ENV} or infra/tools/cost/prices.yaml)",
    )
    args = parser.parse_args(argv)
    try:
        fetched = update(args.prices, args.region, datetime.now(UTC))
    except CostError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"{args.prices}: {fetched.count} prices for {args.region} as of "
        f"{fetched.values['as_of']} under regions.{args.region}."
    )
    if fetched.skipped:
        print(f"Not offered in {args.region}, left out: {', '.join(fetched.skipped)}.")
    return 0
