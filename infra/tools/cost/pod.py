"""The serving pods' estimated hourly cost: `python -m infra.tools.cost pod --stack dev`.

Each pod is priced as its share of the node it lands on (the larger of its CPU and memory
requests' fractions, or its GPUs' fraction on GPU nodes) at the price table's rate, times the
replicas: at the HPA's floor and at its ceiling. Pods without GPUs land on the system node
group's first instance type, whose size comes from EC2's DescribeInstanceTypes (so the command
needs AWS credentials). Pods with GPUs land on a node Karpenter starts for them: in the inference
NodePool it tries first (the highest weight) that allows enough GPUs per node, the smallest such
type (the cheapest among equals), at its Spot rate when the pool allows Spot, which Karpenter
prefers; its size comes from infra/settings/catalogue.py. `--format json` prints the figures the
rollout record keeps (`python -m ml.release.rollout_record`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from infra.helpers.labels import WORKLOAD_LABEL
from infra.settings import (
    SERVING_WORKLOAD,
    ClusterSettings,
    GpuNodePool,
    NodePool,
    ServingSettings,
    SystemPool,
)
from infra.tools.cost.errors import CostError
from infra.tools.cost.prices import PRICES_FILE, load_prices
from infra.tools.plan import PlanError, stack_config
from ml.core.cli import emit
from ml.core.identity import load_identity


@dataclass(frozen=True)
class NodeShape:
    instance_type: str
    vcpus: int
    memory_mib: int
    gpus: int
    hourly_usd: float
    capacity_type: str


@dataclass(frozen=True)
class PodCost:
    """The serving pods' estimated hourly cost at the HPA's floor and ceiling."""

    node: NodeShape
    share_of_node: float
    min_replicas: int
    max_replicas: int
    hourly_usd_min: float
    hourly_usd_max: float


def serving_pool(cluster: ClusterSettings, serving: ServingSettings) -> SystemPool | GpuNodePool:
    """Where the serving pods land: the system pool, or an inference NodePool for GPU pods.

    Of the NodePools that allow a type with enough GPUs, the one Karpenter tries first: the
    highest weight.
    """
    if not serving.gpus:
        return cluster.system_pool
    workload = serving.gpu_node_selector.get(WORKLOAD_LABEL, SERVING_WORKLOAD)
    pools = [p for p in cluster.pools_for(workload) if p.most_gpus_per_node >= serving.gpus]
    if not pools:
        raise CostError(
            f"serving asks for {serving.gpus} GPU(s) but no {workload} NodePool "
            "(cluster.nodePools) allows a type with that many"
        )
    return max(pools, key=lambda p: p.weight)


def _hourly(instance_type: str, spot: bool, region: str, prices: Path) -> float:
    hourly, key = load_prices(prices).region(region).instance_hourly(instance_type, spot)
    if hourly is None:
        raise CostError(
            f"no price for {instance_type} under regions.{region}.{key} ({prices}): run "
            f"`make prices REGION={region}` (needs AWS credentials)"
        )
    return hourly


def node_shape(
    pool: NodePool, region: str, ec2: Any = None, prices: Path = PRICES_FILE
) -> NodeShape:
    """The node group's first instance type: its size (EC2's DescribeInstanceTypes), its price."""
    instance_type = pool.instance_types[0]
    ec2 = ec2 or boto3.client("ec2", region_name=region)
    (info,) = ec2.describe_instance_types(InstanceTypes=[instance_type])["InstanceTypes"]
    return NodeShape(
        instance_type=instance_type,
        vcpus=int(info["VCpuInfo"]["DefaultVCpus"]),
        memory_mib=int(info["MemoryInfo"]["SizeInMiB"]),
        gpus=sum(int(g["Count"]) for g in info.get("GpuInfo", {}).get("Gpus", [])),
        hourly_usd=_hourly(instance_type, pool.capacity_type == "SPOT", region, prices),
        capacity_type=pool.capacity_type,
    )


def gpu_node_shape(
    pool: GpuNodePool, gpus: int, region: str, prices: Path = PRICES_FILE
) -> NodeShape:
    """The node Karpenter starts for a pod asking for `gpus`.

    The smallest type of the pool with that many GPUs, the cheapest of equal ones, at the Spot
    rate when the pool allows Spot (Karpenter's first choice).
    """
    spot = "spot" in pool.capacity_types
    fitting = [
        (shape.gpus, shape.vcpus, shape.memory_gib, _hourly(name, spot, region, prices), name)
        for name, shape in pool.shapes.items()
        if shape.gpus >= gpus
    ]
    if not fitting:
        raise CostError(f"NodePool {pool.name} allows no type with {gpus} GPU(s)")
    count, vcpus, memory_gib, hourly, name = min(fitting)
    return NodeShape(
        instance_type=name,
        vcpus=vcpus,
        memory_mib=memory_gib * 1024,
        gpus=count,
        hourly_usd=hourly,
        capacity_type="spot" if spot else "on-demand",
    )


def pod_cost(serving: ServingSettings, node: NodeShape) -> PodCost:
    if serving.gpus:
        if not node.gpus:
            raise CostError(f"{node.instance_type} has no GPU for pods asking for {serving.gpus}")
        share = serving.gpus / node.gpus
    else:
        share = max(
            serving.cpu_millicores / 1000 / node.vcpus, serving.memory_mib / node.memory_mib
        )
    share = min(share, 1.0)
    return PodCost(
        node=node,
        share_of_node=round(share, 4),
        min_replicas=serving.min_replicas,
        max_replicas=serving.max_replicas,
        hourly_usd_min=round(serving.min_replicas * share * node.hourly_usd, 4),
        hourly_usd_max=round(serving.max_replicas * share * node.hourly_usd, 4),
    )


def stack_pod_cost(
    config: Mapping[str, Any], ec2: Any = None, prices: Path = PRICES_FILE
) -> PodCost:
    """The estimate from a stack file's settings (its `cluster` and `serving` sections)."""
    project = load_identity().project
    region = str(config.get("aws:region", ""))
    cluster = ClusterSettings.model_validate(config.get(f"{project}:cluster"))
    serving = ServingSettings.model_validate(config.get(f"{project}:serving") or {})
    pool = serving_pool(cluster, serving)
    if isinstance(pool, GpuNodePool):
        return pod_cost(serving, gpu_node_shape(pool, serving.gpus, region, prices))
    return pod_cost(serving, node_shape(pool, region, ec2, prices))


def to_text(cost: PodCost) -> str:
    node = cost.node
    return (
        f"${cost.hourly_usd_min:.4f}/h at {cost.min_replicas} replicas, "
        f"${cost.hourly_usd_max:.4f}/h at {cost.max_replicas} "
        f"({cost.share_of_node:.0%} of a {node.capacity_type.lower().replace('_', '-')} "
        f"{node.instance_type} at ${node.hourly_usd}/h each)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.tools.cost pod", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--stack", required=True, help="the stack whose serving pods to price")
    parser.add_argument(
        "--prices",
        type=Path,
        default=PRICES_FILE,
        help="the price table (default: infra/tools/cost/prices.yaml)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)
    try:
        cost = stack_pod_cost(stack_config(args.stack), prices=args.prices)
    except (CostError, PlanError, ClientError, BotoCoreError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    emit(json.dumps(asdict(cost), indent=2) if args.format == "json" else to_text(cost))
    return 0
