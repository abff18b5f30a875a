"""The dated price table (prices.yaml next to this module): its schema and its loader."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from infra.tools.cost.errors import CostError
from ml.core.errors import problems

PRICES_FILE = Path(__file__).resolve().with_name("prices.yaml")
PRICES_ENV = "PRICES"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Price = Field(ge=0)


class RegionPrices(_Strict):
    # A region fetched by `make prices` carries the day it was fetched; others, the table's.
    as_of: date | None = None
    eks_cluster_hourly: float = Price
    nat_gateway_hourly: float = Price
    nat_gateway_per_gb: float = Price
    public_ipv4_hourly: float = Price
    interface_endpoint_hourly: float = Price
    load_balancer_hourly: float = Price
    ebs_gb_month: dict[str, float]
    s3_standard_gb_month: float = Price
    kms_key_month: float = Price
    logs_ingested_per_gb: float = Price
    logs_stored_gb_month: float = Price
    ecr_gb_month: float = Price
    secret_month: float = Price
    ec2_on_demand_hourly: dict[str, float]
    ec2_spot_hourly: dict[str, float]

    def instance_hourly(self, instance_type: str, spot: bool) -> tuple[float | None, str]:
        """The hourly rate of one instance (None when the table lacks it) and its table's key."""
        if spot:
            return self.ec2_spot_hourly.get(instance_type), "ec2_spot_hourly"
        return self.ec2_on_demand_hourly.get(instance_type), "ec2_on_demand_hourly"


class UsageAssumptions(_Strict):
    s3_gb_per_bucket: float = Price
    nat_gb_per_gateway: float = Price
    log_gb_ingested_per_group: float = Price
    log_gb_stored_per_group: float = Price
    # VPC flow logs grow with traffic, not with the number of groups: their own assumption.
    flow_log_gb_per_month: float = Price
    ecr_gb_per_repository: float = Price


class PriceTable(_Strict):
    source: str = Field(min_length=1)
    as_of: date
    hours_per_month: float = Field(gt=0)
    usage: UsageAssumptions
    regions: dict[str, RegionPrices] = Field(min_length=1)

    def region(self, name: str) -> RegionPrices:
        if name not in self.regions:
            known = ", ".join(sorted(self.regions))
            raise CostError(
                f"prices: no prices for region {name!r} under `regions` ({known}): "
                f"run `make prices REGION={name}` (needs AWS credentials)"
            )
        return self.regions[name]

    def as_of_for(self, regions: Iterable[str]) -> date:
        """The oldest date of the named regions' prices (the table's when it names none)."""
        dates = [self.regions[r].as_of or self.as_of for r in regions if r in self.regions]
        return min(dates, default=self.as_of)


def load_prices(path: Path) -> PriceTable:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise CostError(f"{path}: cannot read the price table: {error}") from None
    try:
        return PriceTable.model_validate(data)
    except ValidationError as error:
        raise CostError(f"{path}: {'; '.join(problems(error))}") from None
