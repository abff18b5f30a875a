"""The offline cost estimate against small plans whose bills were worked out by hand.

tests/data/plans/prices.yaml holds round prices so the expected totals below can be checked with
pencil and paper; tests/data/plans/small.json is a stack in miniature (cluster, NAT, a Spot system
pool with a launch template, a GPU pool, buckets, key, logs, registry, a Prometheus volume).
The serving pods' estimate (`python -m infra.tools.cost pod`) runs against moto's EC2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.settings import is_gpu_pool
from infra.tools import cost
from infra.tools.cost import (
    CostError,
    Plan,
    estimate,
    load_plan,
    load_prices,
    parse_plan,
    pod,
    report,
)
from tests.support.paths import TEST_DATA
from tests.support.pulumi_unit import stack_settings
from tests.support.rendering import stack_plan

DATA = TEST_DATA / "plans"
PRICES = DATA / "prices.yaml"
HOURS = 730

# The fixture's bill, line by line (prices from tests/data/plans/prices.yaml).
CLUSTER = 0.10 * HOURS  # 73.00
NAT = 0.05 * HOURS + 100 * 0.05  # 36.50 hours + 5.00 for the assumed 100 GB
PUBLIC_IP = 0.005 * HOURS  # 3.65
SYSTEM_NODE = 0.01 * HOURS + 30 * 0.10  # Spot t3.medium 7.30 + 30 GiB gp3 from the template
GPU_NODE = 1.00 * HOURS + 100 * 0.10  # on-demand g5.xlarge 730.00 + 100 GiB disk 10.00
BUCKET = 10 * 0.02  # assumed 10 GB each; two buckets
KEY = 1.00
LOGS = 2 * 0.50 + 10 * 0.03  # assumed 2 GB ingested, 10 GB stored
REGISTRY = 5 * 0.10  # assumed 5 GB
PROMETHEUS_VOLUME = 50 * 0.10  # 50Gi gp3 claim in the chart's values

FIXED = CLUSTER + NAT + PUBLIC_IP + 2 * BUCKET + KEY + LOGS + REGISTRY + PROMETHEUS_VOLUME
IDLE = FIXED + 1 * SYSTEM_NODE  # system pool at min 1, GPU pool at 0
TYPICAL = FIXED + 2 * SYSTEM_NODE  # system pool at desired 2, GPU pool at 0
MAX = TYPICAL + 2 * GPU_NODE  # GPU pool at its max 2, system pool as typical


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


def tiny_plan(region: str, *extra: dict[str, Any], **inputs: Any) -> Plan:
    provider = "urn:pulumi:dev::p::pulumi:providers:aws::aws"
    return parse_plan(
        {
            "stack": "dev",
            "resources": [
                {"urn": provider, "type": "pulumi:providers:aws", "name": "aws",
                 "inputs": {"region": region}},
                {"urn": "urn:pulumi:dev::p::aws:eks/nodeGroup:NodeGroup::pool",
                 "type": "aws:eks/nodeGroup:NodeGroup", "name": "pool",
                 "provider": f"{provider}::id",
                 "inputs": {"instanceTypes": ["t3.medium"], "capacityType": "ON_DEMAND",
                            "scalingConfig": {"minSize": 1, "desiredSize": 1, "maxSize": 1},
                            **inputs}},
                *extra,
            ],
        },
        "tiny",
    )  # fmt: skip


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


def test_bad_price_tables_name_the_key(tmp_path: Path) -> None:
    table = PRICES.read_text().replace("hours_per_month: 730", "hours_per_month: -1")
    (tmp_path / "prices.yaml").write_text(table)
    with pytest.raises(CostError, match="hours_per_month"):
        load_prices(tmp_path / "prices.yaml")


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


def test_a_price_table_without_the_flow_log_assumption_names_it(tmp_path: Path) -> None:
    table = PRICES.read_text().replace("  flow_log_gb_per_month: 4\n", "")
    (tmp_path / "prices.yaml").write_text(table)
    with pytest.raises(CostError, match=r"usage\.flow_log_gb_per_month"):
        load_prices(tmp_path / "prices.yaml")


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cost.main(["--stack", "dev", "--plan", str(DATA / "small.json"), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--prices", str(PRICES), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["typical_monthly_usd"] == pytest.approx(TYPICAL)
    assert data["stack"] == "dev"
    assert {"idle_monthly_usd", "max_monthly_usd", "by_resource", "by_tag"} <= data.keys()


def test_cli_takes_the_price_table_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRICES", str(PRICES))
    code, out, _ = run_cli(capsys, "--format", "json")
    assert code == 0
    assert json.loads(out)["prices_as_of"] == "2026-01-01"


def test_cli_markdown_diff_for_pull_requests(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys, "--prices", str(PRICES), "--base", str(DATA / "small-base.json"), "--format",
        "markdown",
    )  # fmt: skip
    assert code == 0
    assert "| difference | -$3.15 | -$3.15 | +$736.85 |" in out
    assert "| `NodeGroup` gpu | changed | +$0.00 | +$0.00 | +$740.00 |" in out


def test_cli_reports_errors_without_a_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_cli(capsys, "--prices", str(tmp_path / "missing.yaml"))
    assert code == 2
    assert err.startswith("error: ") and "missing.yaml" in err


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


# --- The real stacks --------------------------------------------------------------------------

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


DEV = stack_settings("dev")


def hourly(pool: Any) -> float:
    """The repository table's rate for the pool's first instance type and capacity type."""
    region = load_prices(cost.PRICES_FILE).region("us-east-1")
    rate, _ = region.instance_hourly(pool.instance_types[0], pool.capacity_type == "SPOT")
    assert rate is not None
    return rate


def test_pod_command_prints_the_serving_pods_cost(
    aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cost.main(["pod", "--stack", "dev", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    pool, serving = DEV.cluster.system_pool, DEV.serving
    # The dev stack's system pool starts with t3a.medium: 2 vCPU and 4 GiB, no GPU.
    assert data["node"] == {
        "instance_type": "t3a.medium",
        "vcpus": 2,
        "memory_mib": 4096,
        "gpus": 0,
        "hourly_usd": hourly(pool),
        "capacity_type": pool.capacity_type,
    }
    # The larger of the pod's CPU share of 2 vCPU and its memory share of 4 GiB.
    share = max(serving.cpu_millicores / 2000, serving.memory_mib / 4096)
    assert data["share_of_node"] == share
    assert (data["min_replicas"], data["max_replicas"]) == (1, 3)
    assert data["hourly_usd_min"] == round(serving.min_replicas * share * hourly(pool), 4)
    assert data["hourly_usd_max"] == round(serving.max_replicas * share * hourly(pool), 4)


def test_pod_command_text_is_one_line(aws_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cost.main(["pod", "--stack", "dev"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert "/h at 1 replicas" in out and "of a on-demand t3a.medium at $0.0376/h each" in out


def test_memory_decides_when_it_is_the_larger_share(aws_env: str) -> None:
    serving = DEV.serving.model_copy(update={"memory_mib": 3072, "memory_limit_mib": 3072})
    node = pod.node_shape(DEV.cluster.system_pool, "us-east-1")
    assert pod.pod_cost(serving, node).share_of_node == 0.75


def test_gpu_pods_cost_their_gpus_share_of_a_gpu_node(aws_env: str) -> None:
    serving = DEV.serving.model_copy(update={"gpus": 1})
    pool = pod.serving_pool(DEV.cluster, serving)
    assert pool.name == "gpu-spot"
    node = pod.node_shape(pool, "us-east-1")
    assert (node.instance_type, node.gpus) == ("g5.xlarge", 1)
    estimate = pod.pod_cost(serving, node)
    assert estimate.share_of_node == 1.0
    assert estimate.hourly_usd_min == round(serving.min_replicas * hourly(pool), 4)


def test_gpu_pods_without_a_gpu_pool_are_an_error() -> None:
    cluster = DEV.cluster.model_copy(update={"gpu_pools": []})
    with pytest.raises(CostError, match="no inference GPU pool"):
        pod.serving_pool(cluster, DEV.serving.model_copy(update={"gpus": 1}))


class FakeEc2:
    """EC2's DescribeInstanceTypes answer for one made-up shape (no AWS needed)."""

    def describe_instance_types(self, InstanceTypes: list[str]) -> dict[str, Any]:  # noqa: N803
        shape = {"VCpuInfo": {"DefaultVCpus": 4}, "MemoryInfo": {"SizeInMiB": 16384}}
        return {"InstanceTypes": [{"InstanceType": InstanceTypes[0], **shape}]}


def test_node_shapes_come_from_the_ec2_client_given() -> None:
    node = pod.node_shape(DEV.cluster.system_pool, "us-east-1", FakeEc2())
    assert (node.vcpus, node.memory_mib, node.gpus) == (4, 16384, 0)
    assert node.hourly_usd == hourly(DEV.cluster.system_pool)


def test_an_unpriced_instance_type_names_the_key() -> None:
    pool = DEV.cluster.system_pool.model_copy(update={"instance_types": ["x9.large"]})
    with pytest.raises(CostError, match=r"no price for x9.large under regions.us-east-1.ec2_on_"):
        pod.node_shape(pool, "us-east-1", FakeEc2())


def test_pod_command_reports_errors_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cost.main(["pod", "--stack", "nope", "--format", "json"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: no stack file Pulumi.nope.yaml")
