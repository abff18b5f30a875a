"""One region's list prices from AWS: the Price List API (on-demand) and EC2's Spot price history.

Each key of the price table (prices.py's RegionPrices) is one product of the Price List API,
found by its service code, a few TERM_MATCH filters and the end of its usage type (the usage
type starts with a region prefix, `EUC1-`, that us-east-1's EC2 products lack). The price is the
first tier of the product's on-demand term, in USD. The Price List API has no Spot prices: those
are the average over the region's zones of each zone's latest price in EC2's Spot price history.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from infra.tools.cost.errors import CostError

# The Price List API answers in us-east-1 (and ap-south-1) for every region's prices.
PRICING_REGION = "us-east-1"
SPOT_PRODUCT = "Linux/UNIX"
SPOT_WINDOW = timedelta(days=1)
SPOT_DIGITS = Decimal("0.000001")
EBS_VOLUME_TYPES = ("gp3", "gp2", "io1", "io2", "st1", "sc1")


@dataclass(frozen=True)
class Query:
    """One GetProducts call: a service code and TERM_MATCH filters besides the region's."""

    service: str
    filters: tuple[tuple[str, str], ...] = ()

    def request(self, region: str) -> dict[str, Any]:
        terms = (("regionCode", region), *self.filters)
        return {
            "ServiceCode": self.service,
            "Filters": [{"Type": "TERM_MATCH", "Field": f, "Value": v} for f, v in terms],
            "FormatVersion": "aws_v1",
            "MaxResults": 100,
        }


@dataclass(frozen=True)
class Item:
    """A price table key and the product that holds its price."""

    key: str
    query: Query
    usage: str | None  # the usage type after its region prefix; None: any
    attributes: tuple[tuple[str, str], ...] = ()

    def matches(self, attributes: dict[str, Any], region: str) -> bool:
        # The prefix is the region's billing code (`EUC1-`, `EU-`) or, for some services
        # (KMS), the region's name; us-east-1's EC2 usage types have none.
        prefix = rf"(?:[A-Z]{{2,4}}\d?-|{re.escape(region)}-)?"
        usage = str(attributes.get("usagetype", ""))
        if self.usage is not None and not re.fullmatch(prefix + re.escape(self.usage), usage):
            return False
        return all(attributes.get(name) == value for name, value in self.attributes)


def _family(service: str, family: str, *more: tuple[str, str]) -> Query:
    return Query(service, (("productFamily", family), *more))


NAT = _family("AmazonEC2", "NAT Gateway")
VPC = Query("AmazonVPC")
EBS = _family("AmazonEC2", "Storage")
S3 = _family("AmazonS3", "Storage", ("storageClass", "General Purpose"), ("volumeType", "Standard"))

ITEMS: tuple[Item, ...] = (
    Item("eks_cluster_hourly", _family("AmazonEKS", "Compute"), "AmazonEKS-Hours:perCluster"),
    Item("nat_gateway_hourly", NAT, "NatGateway-Hours"),
    Item("nat_gateway_per_gb", NAT, "NatGateway-Bytes"),
    Item("public_ipv4_hourly", VPC, "PublicIPv4:InUseAddress"),
    Item("interface_endpoint_hourly", VPC, "VpcEndpoint-Hours"),
    Item(
        "load_balancer_hourly",
        _family("AWSELB", "Load Balancer-Application", ("locationType", "AWS Region")),
        "LoadBalancerUsage",
    ),
    Item("s3_standard_gb_month", S3, "TimedStorage-ByteHrs"),
    Item("kms_key_month", _family("awskms", "Encryption Key"), "KMS-Keys"),
    Item(
        "logs_ingested_per_gb",
        _family("AmazonCloudWatch", "Data Payload"),
        "DataProcessing-Bytes",
    ),
    Item(
        "logs_stored_gb_month",
        _family("AmazonCloudWatch", "Storage Snapshot"),
        "TimedStorage-ByteHrs",
    ),
    Item("ecr_gb_month", _family("AmazonECR", "EC2 Container Registry"), "TimedStorage-ByteHrs"),
    Item("secret_month", _family("AWSSecretsManager", "Secret"), None),
)


def ebs_item(volume_type: str) -> Item:
    return Item(f"ebs_gb_month.{volume_type}", EBS, None, (("volumeApiName", volume_type),))


def instance_item(instance_type: str) -> Item:
    """A Linux instance on shared hardware, without pre-installed software or a license."""
    query = _family(
        "AmazonEC2",
        "Compute Instance",
        ("instanceType", instance_type),
        ("tenancy", "Shared"),
        ("operatingSystem", "Linux"),
        ("preInstalledSw", "NA"),
        ("licenseModel", "No License required"),
        ("capacitystatus", "Used"),
    )
    return Item(f"ec2_on_demand_hourly.{instance_type}", query, f"BoxUsage:{instance_type}")


def on_demand_usd(document: dict[str, Any]) -> Decimal | None:
    """The first tier's USD price of a product's on-demand term (None when it has none)."""
    dimensions = [
        dimension
        for term in (document.get("terms", {}).get("OnDemand") or {}).values()
        for dimension in (term.get("priceDimensions") or {}).values()
        if "USD" in (dimension.get("pricePerUnit") or {})
    ]
    if not dimensions:
        return None
    first = min(dimensions, key=lambda d: float(d.get("beginRange") or 0))
    return Decimal(first["pricePerUnit"]["USD"])


class PriceList:
    """The Price List API's products for one region, each query asked once."""

    def __init__(self, client: Any, region: str) -> None:
        self.client, self.region = client, region
        self._answers: dict[Query, list[dict[str, Any]]] = {}

    def products(self, query: Query) -> list[dict[str, Any]]:
        if query not in self._answers:
            paginator = self.client.get_paginator("get_products")
            pages = paginator.paginate(**query.request(self.region))
            self._answers[query] = [json.loads(doc) for page in pages for doc in page["PriceList"]]
        return self._answers[query]

    def price(self, item: Item) -> Decimal | None:
        """The item's price; None when no product matches. Refuses products of differing prices."""
        found: list[tuple[str, Decimal]] = []
        for doc in self.products(item.query):
            attributes = (doc.get("product") or {}).get("attributes") or {}
            price = on_demand_usd(doc)
            if price is not None and item.matches(attributes, self.region):
                found.append((str(attributes.get("usagetype", "")), price))
        if len({price for _, price in found}) > 1:
            offers = ", ".join(f"{usage} ${price.normalize()}" for usage, price in found)
            raise CostError(
                f"prices: {self.region}: {item.key}: the Price List API offers several prices "
                f"({offers}); cannot tell which one the stacks pay"
            )
        return found[0][1] if found else None


def spot_prices(ec2: Any, instance_types: Iterable[str], now: datetime) -> dict[str, Decimal]:
    """Each instance type's average over the region's zones of each zone's latest Spot price."""
    latest: dict[tuple[str, str], tuple[datetime, Decimal]] = {}
    for entry in _spot_history(ec2, sorted(set(instance_types)), now):
        zone = (entry["InstanceType"], entry["AvailabilityZone"])
        seen = latest.get(zone)
        if seen is None or entry["Timestamp"] > seen[0]:
            latest[zone] = (entry["Timestamp"], Decimal(entry["SpotPrice"]))
    by_type: dict[str, list[Decimal]] = {}
    for (instance_type, _), (_, price) in latest.items():
        by_type.setdefault(instance_type, []).append(price)
    return {
        name: (sum(prices, Decimal()) / len(prices)).quantize(SPOT_DIGITS)
        for name, prices in by_type.items()
    }


def _spot_history(ec2: Any, instance_types: list[str], now: datetime) -> Iterator[dict[str, Any]]:
    if not instance_types:
        return
    pages = ec2.get_paginator("describe_spot_price_history").paginate(
        InstanceTypes=instance_types,
        ProductDescriptions=[SPOT_PRODUCT],
        StartTime=now - SPOT_WINDOW,
    )
    for page in pages:
        yield from page["SpotPriceHistory"]
