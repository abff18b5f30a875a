"""The serving pods' estimate (`python -m infra.tools.cost pod`), run against moto's EC2."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from infra.settings import GpuNodePool
from infra.tools import cost
from infra.tools.cost import (
    CostError,
    load_prices,
    pod,
)
from infra.tools.plan import stack_config
from ml.core.identity import load_identity
from tests.support.pulumi_unit import stack_settings

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


def rate(instance_type: str, spot: bool) -> float:
    region = load_prices(cost.PRICES_FILE).region("us-east-1")
    hourly, _ = region.instance_hourly(instance_type, spot)
    assert hourly is not None
    return hourly


def test_gpu_pods_cost_their_gpus_share_of_the_node_karpenter_starts() -> None:
    """dev's one inference NodePool allows g6, g5 and g4dn, xlarge and 2xlarge, spot first."""
    config = stack_config("dev")
    project = load_identity().project
    config[f"{project}:serving"] = {**config[f"{project}:serving"], "gpus": 1}
    # No EC2 client: GPU shapes come from the catalogue, so a broken one would fail the test.
    estimate = pod.stack_pod_cost(config, ec2=object())
    # The three xlarge types tie on size (1 GPU, 4 vCPU, 16 GiB): Spot g4dn.xlarge is cheapest.
    assert asdict(estimate.node) == {
        "instance_type": "g4dn.xlarge",
        "vcpus": 4,
        "memory_mib": 16384,
        "gpus": 1,
        "hourly_usd": rate("g4dn.xlarge", spot=True),
        "capacity_type": "spot",
    }
    assert estimate.share_of_node == 1.0
    serving = DEV.serving
    assert estimate.hourly_usd_min == round(serving.min_replicas * rate("g4dn.xlarge", True), 4)
    assert "of a spot g4dn.xlarge at" in pod.to_text(estimate)


def test_gpu_pods_land_in_the_pool_karpenter_tries_first() -> None:
    """prod's spot pool (weight 100) comes before its on-demand fallback (weight 10)."""
    serving = stack_settings("prod").serving.model_copy(update={"gpus": 1})
    cluster = stack_settings("prod").cluster
    pool = pod.serving_pool(cluster, serving)
    assert isinstance(pool, GpuNodePool)
    assert (pool.name, pool.weight) == ("gpu-inference", max(p.weight for p in cluster.node_pools))
    node = pod.gpu_node_shape(pool, 1, "us-east-1")
    assert (node.instance_type, node.capacity_type) == ("g6.xlarge", "spot")
    fallback = next(p for p in cluster.node_pools if p.capacity_types == ["on-demand"])
    node = pod.gpu_node_shape(fallback, 1, "us-east-1")
    assert (node.instance_type, node.capacity_type) == ("g5.xlarge", "on-demand")
    assert node.hourly_usd == rate("g5.xlarge", spot=False)


def test_gpu_pods_without_a_fitting_pool_are_an_error() -> None:
    cluster = DEV.cluster.model_copy(update={"node_pools": []})
    with pytest.raises(CostError, match="no inference NodePool"):
        pod.serving_pool(cluster, DEV.serving.model_copy(update={"gpus": 1}))
    # dev's types carry one GPU each.
    with pytest.raises(CostError, match="allows a type with that many"):
        pod.serving_pool(DEV.cluster, DEV.serving.model_copy(update={"gpus": 2}))
    (pool,) = DEV.cluster.pools_for("inference")
    with pytest.raises(CostError, match="NodePool gpu-inference allows no type with 2 GPU"):
        pod.gpu_node_shape(pool, 2, "us-east-1")


def test_an_unpriced_gpu_type_names_the_command_that_fetches_it(tmp_path: Path) -> None:
    table = cost.PRICES_FILE.read_text(encoding="utf-8").replace("      g4dn.xlarge: 0.2104\n", "")
    (tmp_path / "prices.yaml").write_text(table)
    (pool,) = DEV.cluster.pools_for("inference")
    with pytest.raises(CostError) as raised:
        pod.gpu_node_shape(pool, 1, "us-east-1", tmp_path / "prices.yaml")
    assert "no price for g4dn.xlarge under regions.us-east-1.ec2_spot_hourly" in str(raised.value)
    assert "make prices REGION=us-east-1" in str(raised.value)


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
