"""`make prices REGION=...` against recorded AWS answers: no AWS account, no network.

tests/data/pricing/ holds GetProducts answers for eu-central-1 in the shape the Price List API
gives them (every product a JSON string in `PriceList`; written by hand, prices illustrative,
with the neighbours each query really returns: extended support next to the EKS fee, the tiers
of S3 and endpoint data, reserved terms next to on-demand ones, a second page for the VPC) and
a DescribeSpotPriceHistory answer. botocore's Stubber serves them to real boto3 clients and
checks every request's parameters on the way.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from infra.tools import cost
from infra.tools.cost import CostError, fetch, load_prices
from infra.tools.cost.price_file import number, with_region
from infra.tools.cost.price_list import ITEMS, PriceList
from infra.tools.cost.prices import RegionPrices
from ml.core.paths import REPO_ROOT
from tests.support.paths import TEST_DATA
from tests.support.pulumi_unit import stack_settings

DATA = TEST_DATA / "pricing"
TABLE = TEST_DATA / "plans" / "prices.yaml"  # us-east-1 and eu-west-1, with a comment
REGION = "eu-central-1"
STACK_TYPES = ["t3.medium", "g5.xlarge"]
NOW = datetime(2025, 12, 1, 12, tzinfo=UTC)
LINUX = {
    "tenancy": "Shared",
    "operatingSystem": "Linux",
    "preInstalledSw": "NA",
    "licenseModel": "No License required",
    "capacitystatus": "Used",
}
# Every GetProducts call of one fetch, in order: service code, TERM_MATCH filters, answer.
CALLS: list[tuple[str, dict[str, str], str]] = [
    ("AmazonEKS", {"productFamily": "Compute"}, "eks.json"),
    ("AmazonEC2", {"productFamily": "NAT Gateway"}, "nat.json"),
    ("AmazonVPC", {}, "vpc-page-1.json"),
    ("AmazonVPC", {}, "vpc-page-2.json"),
    (
        "AWSELB",
        {"productFamily": "Load Balancer-Application", "locationType": "AWS Region"},
        "elb.json",
    ),
    (
        "AmazonS3",
        {"productFamily": "Storage", "storageClass": "General Purpose", "volumeType": "Standard"},
        "s3.json",
    ),
    ("awskms", {"productFamily": "Encryption Key"}, "kms.json"),
    ("AmazonCloudWatch", {"productFamily": "Data Payload"}, "logs-ingested.json"),
    ("AmazonCloudWatch", {"productFamily": "Storage Snapshot"}, "logs-stored.json"),
    ("AmazonECR", {"productFamily": "EC2 Container Registry"}, "ecr.json"),
    ("AWSSecretsManager", {"productFamily": "Secret"}, "secrets.json"),
    ("AmazonEC2", {"productFamily": "Storage"}, "ebs.json"),
    *(
        (
            "AmazonEC2",
            {"productFamily": "Compute Instance", "instanceType": name, **LINUX},
            f"ec2-{name}.json",
        )
        for name in STACK_TYPES
    ),
]

NO_PRODUCTS: dict[str, Any] = {"FormatVersion": "aws_v1", "PriceList": []}


def answer(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


def request(service: str, filters: dict[str, str], token: str | None) -> dict[str, Any]:
    terms = {"regionCode": REGION, **filters}
    expected: dict[str, Any] = {
        "ServiceCode": service,
        "Filters": [{"Type": "TERM_MATCH", "Field": f, "Value": v} for f, v in terms.items()],
        "FormatVersion": "aws_v1",
        "MaxResults": 100,
    }
    return expected | ({"NextToken": token} if token else {})


def spot_answer() -> dict[str, Any]:
    history = answer("spot.json")["SpotPriceHistory"]
    for entry in history:
        entry["Timestamp"] = datetime.fromisoformat(entry["Timestamp"])
    return {"SpotPriceHistory": history}


@contextmanager
def recorded(
    answers: dict[str, dict[str, Any]] | None = None,
    spot: dict[str, Any] | None = None,
    unoffered: tuple[str, ...] = (),
) -> Iterator[tuple[Any, Any]]:
    """Real pricing and EC2 clients answering one fetch from the recordings (or `answers`);
    the region offers no `unoffered` instance type."""
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    pricing = boto3.client("pricing", region_name="us-east-1", **keys)
    ec2 = boto3.client("ec2", region_name=REGION, **keys)
    with Stubber(pricing) as pricing_stub, Stubber(ec2) as ec2_stub:
        token = None
        for service, filters, name in CALLS:
            response = (answers or {}).get(name) or answer(name)
            pricing_stub.add_response("get_products", response, request(service, filters, token))
            token = response.get("NextToken")
        for name in unoffered:
            filters = {"productFamily": "Compute Instance", "instanceType": name, **LINUX}
            pricing_stub.add_response(
                "get_products", NO_PRODUCTS, request("AmazonEC2", filters, None)
            )
        ec2_stub.add_response(
            "describe_spot_price_history",
            spot or spot_answer(),
            {
                "InstanceTypes": sorted(STACK_TYPES),
                "ProductDescriptions": ["Linux/UNIX"],
                "StartTime": ANY,
            },
        )
        yield pricing, ec2
        pricing_stub.assert_no_pending_responses()
        ec2_stub.assert_no_pending_responses()


@pytest.fixture
def table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the test price table; the stacks name the two recorded instance types."""
    monkeypatch.setattr(fetch, "stack_instance_types", lambda root=REPO_ROOT: STACK_TYPES)
    path = tmp_path / "prices.yaml"
    shutil.copy(TABLE, path)
    return path


def update(path: Path, **recordings: Any) -> fetch.Fetched:
    with recorded(**recordings) as clients, pytest.MonkeyPatch.context() as patch:
        patch.setattr(fetch, "aws_clients", lambda region: clients)
        return fetch.update(path, REGION, NOW)


def test_every_key_of_the_table_is_fetched() -> None:
    maps = {"ebs_gb_month", "ec2_on_demand_hourly", "ec2_spot_hourly"}
    assert {item.key for item in ITEMS} | maps | {"as_of"} == set(RegionPrices.model_fields)


def test_make_prices_writes_the_region_and_make_cost_prices_it(
    table: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = datetime.now(UTC).date()
    with recorded() as clients:
        monkeypatch.setattr(fetch, "aws_clients", lambda region: clients)
        assert cost.main(["prices", "--region", REGION, "--prices", str(table)]) == 0
    prices = load_prices(table).region(REGION)
    assert prices.as_of in {before, datetime.now(UTC).date()}
    out = capsys.readouterr().out
    assert out == f"{table}: 22 prices for {REGION} as of {prices.as_of} under regions.{REGION}.\n"
    # The perCluster fee (not extended support), the first tiers, the second page's IPv4 rate.
    assert prices.model_dump(exclude={"as_of"}) == {
        "eks_cluster_hourly": 0.10,
        "nat_gateway_hourly": 0.052,
        "nat_gateway_per_gb": 0.052,
        "public_ipv4_hourly": 0.005,
        "interface_endpoint_hourly": 0.012,
        "load_balancer_hourly": 0.027,
        "ebs_gb_month": {
            "gp3": 0.0952, "gp2": 0.119, "io1": 0.149, "io2": 0.149, "st1": 0.054, "sc1": 0.018,
        },
        "s3_standard_gb_month": 0.0245,
        "kms_key_month": 1.0,
        "logs_ingested_per_gb": 0.63,
        "logs_stored_gb_month": 0.0324,
        "ecr_gb_month": 0.10,
        "secret_month": 0.40,
        "ec2_on_demand_hourly": {"t3.medium": 0.048, "g5.xlarge": 1.258},
        # Each zone's latest price, averaged: (0.0161 + 0.0152 + 0.0170) / 3, (0.5123 + 0.4987) / 2.
        "ec2_spot_hourly": {"t3.medium": 0.0161, "g5.xlarge": 0.5055},
    }  # fmt: skip

    # `make cost` for a plan in the new region: a t3.medium node and its 20 GiB gp3 disk.
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(eu_plan()))
    args = ["--stack", "dev", "--plan", str(plan), "--prices", str(table), "--format", "json"]
    assert cost.main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["typical_monthly_usd"] == pytest.approx(0.048 * 730 + 20 * 0.0952, abs=0.01)
    assert result["prices_as_of"] == prices.as_of.isoformat()


def eu_plan() -> dict[str, Any]:
    provider = "urn:pulumi:dev::p::pulumi:providers:aws::aws"
    pool = {
        "instanceTypes": ["t3.medium"],
        "capacityType": "ON_DEMAND",
        "scalingConfig": {"minSize": 1, "desiredSize": 1, "maxSize": 1},
    }
    return {
        "stack": "dev",
        "resources": [
            {"urn": provider, "type": "pulumi:providers:aws", "name": "aws",
             "inputs": {"region": REGION}},
            {"urn": "urn:pulumi:dev::p::aws:eks/nodeGroup:NodeGroup::pool",
             "type": "aws:eks/nodeGroup:NodeGroup", "name": "pool",
             "provider": f"{provider}::id", "inputs": pool},
        ],
    }  # fmt: skip


def test_the_table_keeps_its_comments_and_other_regions(table: Path) -> None:
    original = table.read_text()
    update(table)
    added = table.read_text()
    # Appended after the last region: every line before stays as it was.
    assert added.startswith(original.rstrip("\n") + "\n\n  eu-central-1:\n")
    assert load_prices(table).regions.keys() == {"us-east-1", "eu-west-1", REGION}
    for name in ("us-east-1", "eu-west-1"):
        assert load_prices(table).region(name) == load_prices(TABLE).region(name)

    # A second fetch replaces the region's block (here with a new secret price), nothing else.
    secrets = answer("secrets.json")
    secrets["PriceList"] = [p.replace("0.4000000000", "0.4500000000") for p in secrets["PriceList"]]
    update(table, answers={"secrets.json": secrets})
    refreshed = table.read_text()
    assert refreshed == added.replace("    secret_month: 0.4\n", "    secret_month: 0.45\n")
    assert refreshed.count(f"  {REGION}:") == 1


@pytest.mark.parametrize(
    ("recordings", "key"),
    [
        ({"answers": {"secrets.json": NO_PRODUCTS}}, "secret_month"),
        ({"spot": {"SpotPriceHistory": []}}, r"ec2_spot_hourly.t3.medium, ec2_spot_hourly.g5.\w+"),
    ],
)  # fmt: skip
def test_a_price_aws_does_not_give_is_named_and_nothing_is_written(
    table: Path, recordings: dict[str, Any], key: str
) -> None:
    before = table.read_bytes()
    with pytest.raises(CostError, match=f"no {REGION} price for {key}; nothing written"):
        update(table, **recordings)
    assert table.read_bytes() == before


def test_types_only_the_table_lists_are_left_out_where_they_are_not_offered() -> None:
    wanted = fetch.Wanted((*STACK_TYPES, "g6e.xlarge"), frozenset(STACK_TYPES))
    with recorded(unoffered=("g6e.xlarge",)) as (pricing, ec2):
        fetched = fetch.fetch_region(pricing, ec2, REGION, wanted, NOW)
    assert fetched.skipped == ["g6e.xlarge"]
    assert list(fetched.values["ec2_on_demand_hourly"]) == STACK_TYPES
    assert list(fetched.values["ec2_spot_hourly"]) == STACK_TYPES
    # The same type in a stack file is required: its absence fails.
    with (
        recorded(unoffered=("g6e.xlarge",)) as (pricing, ec2),
        pytest.raises(
            CostError, match=r"no eu-central-1 price for ec2_on_demand_hourly\.g6e\.xlarge;"
        ),
    ):
        fetch.fetch_region(
            pricing, ec2, REGION, replace(wanted, required=frozenset(wanted.instance_types)), NOW
        )


def test_products_of_differing_prices_are_refused() -> None:
    eks = answer("eks.json")
    eks["PriceList"] = [
        p.replace("Hours:extendedSupport", "Hours:perCluster") for p in eks["PriceList"]
    ]
    pricing = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="t",
                           aws_secret_access_key="t")  # fmt: skip
    with Stubber(pricing) as stub:
        stub.add_response(
            "get_products", eks, request("AmazonEKS", {"productFamily": "Compute"}, None)
        )
        with pytest.raises(CostError, match=r"eks_cluster_hourly: .* several prices .*\$0\.6"):
            PriceList(pricing, REGION).price(ITEMS[0])


def test_without_credentials_one_line_says_so_and_nothing_is_written(
    table: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(name, raising=False)  # fmt: skip
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    before = table.read_bytes()
    assert cost.main(["prices", "--region", REGION, "--prices", str(table)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: prices: no AWS credentials") and err.count("\n") == 1
    assert table.read_bytes() == before


def test_an_unknown_region_is_refused(table: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cost.main(["prices", "--region", "eu-west-9", "--prices", str(table)]) == 2
    assert "--region: 'eu-west-9' is not an AWS commercial region" in capsys.readouterr().err


def test_the_stacks_instance_types_are_required() -> None:
    found = fetch.stack_instance_types()
    assert len(found) == len(set(found))
    for stack in ("dev", "prod"):
        cluster = stack_settings(stack).cluster
        assert set(cluster.system_pool.instance_types) <= set(found), stack
        assert cluster.node_pools, stack
        for pool in cluster.node_pools:
            # Every family x size the NodePool allows, not only those a pod would start.
            assert set(pool.shapes) <= set(found), (stack, pool.name)
    wanted = fetch.wanted_for(load_prices(TABLE), ["m7i.large", "t3.medium"])
    assert wanted.instance_types == ("t3.medium", "g5.xlarge", "m7i.large")
    assert wanted.required == {"m7i.large", "t3.medium"}


TEXT = """\
regions:
  us-east-1:
    a: 1
    m: {x: 1}

  # Europe
  eu-west-1:
    a: 2
    n:
      t3.micro: 0.1
  ap-south-1: {a: 3}
"""


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("eu-west-1", TEXT.replace("    a: 2\n    n:\n      t3.micro: 0.1\n", "    new: 1\n")),
        ("us-east-1", TEXT.replace("    a: 1\n    m: {x: 1}\n", "    new: 1\n")),
        ("ap-south-1", TEXT.replace("  ap-south-1: {a: 3}\n", "  ap-south-1:\n    new: 1\n")),
        ("sa-east-1", TEXT + "\n  sa-east-1:\n    new: 1\n"),
    ],
)
def test_only_the_regions_block_is_rewritten(region: str, expected: str) -> None:
    block = [f"  {region}:", "    new: 1"]
    assert with_region(TEXT, region, block, Path("prices.yaml")) == expected


def test_prices_are_written_as_plain_decimals() -> None:
    assert [number(Decimal(v)) for v in ("0.1000000000", "1.0000000000", "0.0000120000", "10")] == [
        "0.1", "1", "0.000012", "10",
    ]  # fmt: skip


def test_make_prices_needs_a_region() -> None:
    """`make -n` shows the command without running it (nor setup)."""
    env = {"PATH": "/usr/bin:/bin"}
    missing = subprocess.run(
        ["make", "-n", "--no-print-directory", "prices"], cwd=REPO_ROOT, env=env,
        capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode == 2
    assert "usage: make prices REGION=<aws-region>" in missing.stderr
    given = subprocess.run(
        ["make", "-n", "--no-print-directory", "prices", f"REGION={REGION}"], cwd=REPO_ROOT,
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert '-m infra.tools.cost prices --region "$REGION"' in given.stdout
