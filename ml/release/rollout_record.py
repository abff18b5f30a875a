"""`make rollout-record STACK=<stack>`: what a rollout put in front of users, kept for good.

    python -m ml.release.rollout_record --stack dev [--image REF@sha256:...] [--bucket NAME]

Writes one JSON record to `s3://<bucket>/rollouts/<stack>/<UTC timestamp>-<model version>.json`
and the same facts as markdown to the job summary: the model version and bento tag, the image by
digest, the commit, the data hash (dvc.lock's entry for the ingested table), the evaluation
metrics, the cost labels, and the estimated hourly cost of the serving pods. The estimate prices
each pod as its share of the node it lands on (the larger of its CPU and memory requests'
fractions, or its GPUs' fraction on GPU nodes), at the price table's rate (infra/tools/cost/prices.yaml) for
the pool's first instance type, times the replicas: at the HPA's floor and at its ceiling.
The newest record of a stack is what `make up` keeps deployed when it ships no new model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from infra.components.serving import ServingSettings
from infra.helpers.labels import WORKLOAD_LABEL
from infra.settings import ClusterSettings, NodePool
from infra.tools.cost import PRICES_FILE, CostError, load_prices
from infra.tools.plan import PlanError, stack_config
from ml.core.artifacts import ShipError, artifacts_bucket, bento_report, run_url, write_summary
from ml.core.identity import load_identity
from ml.core.params import load_params
from ml.core.paths import BENTO_INFO_FILE, DVC_LOCK, METRICS_FILE, REPORTS_DIR
from ml.pipeline.package import PackageError, data_record, read_lock
from ml.release.image import REPOSITORY_ENV, Repository, ecr_client, git_sha, pushed_digest

RECORDS_PREFIX = "rollouts"


def record_key(stack: str, at: datetime, version: str) -> str:
    return f"{RECORDS_PREFIX}/{stack}/{at.strftime('%Y%m%dT%H%M%SZ')}-{version}.json"


# --- What the pods cost -------------------------------------------------------------------------


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


def serving_pool(cluster: ClusterSettings, serving: ServingSettings) -> NodePool:
    """The node pool the serving pods land on: a GPU pool when they ask for GPUs."""
    if not serving.gpus:
        return cluster.system_pool
    workload = serving.gpu_node_selector.get(WORKLOAD_LABEL)
    pools = [p for p in cluster.gpu_pools if workload in (None, p.workload_type)]
    if not pools:
        raise ShipError(f"serving asks for GPUs but the cluster has no {workload} GPU pool")
    return pools[0]


def node_shape(
    pool: NodePool, region: str, ec2: Any = None, prices: Path = PRICES_FILE
) -> NodeShape:
    """The pool's first instance type: its size (EC2's DescribeInstanceTypes) and its price."""
    instance_type = pool.instance_types[0]
    ec2 = ec2 or boto3.client("ec2", region_name=region)
    (info,) = ec2.describe_instance_types(InstanceTypes=[instance_type])["InstanceTypes"]
    region_prices = load_prices(prices).region(region)
    spot = pool.capacity_type == "SPOT"
    table = region_prices.ec2_spot_hourly if spot else region_prices.ec2_on_demand_hourly
    if instance_type not in table:
        kind = "ec2_spot_hourly" if spot else "ec2_on_demand_hourly"
        raise ShipError(f"no price for {instance_type} under regions.{region}.{kind} ({prices})")
    return NodeShape(
        instance_type=instance_type,
        vcpus=int(info["VCpuInfo"]["DefaultVCpus"]),
        memory_mib=int(info["MemoryInfo"]["SizeInMiB"]),
        gpus=sum(int(g["Count"]) for g in info.get("GpuInfo", {}).get("Gpus", [])),
        hourly_usd=table[instance_type],
        capacity_type=pool.capacity_type,
    )


def pod_cost(serving: ServingSettings, node: NodeShape) -> PodCost:
    if serving.gpus:
        if not node.gpus:
            raise ShipError(f"{node.instance_type} has no GPU for pods asking for {serving.gpus}")
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


def stack_pod_cost(config: Mapping[str, Any], ec2: Any = None) -> PodCost:
    """The estimate from a stack file's settings (its `cluster` and `serving` sections)."""
    project = load_identity().project
    region = str(config.get("aws:region", ""))
    cluster = ClusterSettings.model_validate(config.get(f"{project}:cluster"))
    serving = ServingSettings.model_validate(config.get(f"{project}:serving") or {})
    return pod_cost(serving, node_shape(serving_pool(cluster, serving), region, ec2))


# --- What was shipped ---------------------------------------------------------------------------


def data_md5(lock_file: Path = DVC_LOCK) -> str:
    """dvc.lock's hash of the ingested table: the data this model was trained on."""
    try:
        return data_record(read_lock(lock_file), load_params().ingest.output).md5
    except PackageError as error:
        raise ShipError(str(error)) from None


def resolve_image(image: str | None) -> str:
    """The image by digest: as given, else this commit's tag looked up in the ECR repository."""
    if image:
        if "@sha256:" not in image:
            raise ShipError(f"--image {image!r} must name a digest (<repository>@sha256:...)")
        return image
    url = os.environ.get(REPOSITORY_ENV, "")
    if not url:
        raise ShipError(f"pass --image REF@sha256:... or set {REPOSITORY_ENV} to look it up")
    repository = Repository.parse(url)
    tag = git_sha()
    digest = pushed_digest(ecr_client(repository), repository, tag)
    if not digest:
        raise ShipError(f"{repository.ref(tag)} is not in ECR: run `make image` first")
    return f"{repository.url}@{digest}"


def build_record(
    stack: str,
    image: str,
    cost: PodCost,
    at: datetime,
    reports: Path = REPORTS_DIR,
    lock_file: Path = DVC_LOCK,
) -> dict[str, Any]:
    bento = bento_report(reports / BENTO_INFO_FILE.name)
    tag = bento["bento"]
    return {
        "stack": stack,
        "recorded_at": at.isoformat(),
        "model_version": tag.partition(":")[2],
        "bento_tag": tag,
        "model_tag": bento.get("model"),
        "image": image,
        "image_digest": image.rpartition("@")[2],
        "git_sha": git_sha(),
        "data_md5": data_md5(lock_file),
        "metrics": json.loads((reports / METRICS_FILE.name).read_text(encoding="utf-8")),
        "cost_labels": load_identity().cost_labels(stack),
        "estimated_cost": asdict(cost),
        "run_url": run_url(),
        "actor": os.environ.get("GITHUB_ACTOR"),
    }


def to_markdown(record: Mapping[str, Any]) -> str:
    cost = record["estimated_cost"]
    node = cost["node"]
    metrics = ", ".join(
        f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
        for k, v in record["metrics"].items()
        if isinstance(v, int | float)
    )
    rows = [
        ("model version", f"`{record['model_version']}` (bento `{record['bento_tag']}`)"),
        ("image", f"`{record['image']}`"),
        ("commit", f"`{record['git_sha']}`"),
        ("data (md5)", f"`{record['data_md5']}`"),
        ("metrics", metrics or "none"),
        ("cost labels", ", ".join(f"{k}={v}" for k, v in record["cost_labels"].items())),
        (
            "estimated serving cost",
            f"${cost['hourly_usd_min']:.4f}/h at {cost['min_replicas']} replicas, "
            f"${cost['hourly_usd_max']:.4f}/h at {cost['max_replicas']} "
            f"({cost['share_of_node']:.0%} of a {node['capacity_type'].lower().replace('_', '-')} "
            f"{node['instance_type']} at ${node['hourly_usd']}/h each)",
        ),
    ]
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    return f"### Rollout to {record['stack']}\n\n| | |\n| --- | --- |\n{table}\n"


def write_record(record: Mapping[str, Any], bucket: str, key: str, s3: Any = None) -> str:
    s3 = s3 or boto3.client("s3")
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(record, indent=2, sort_keys=True).encode(),
        ContentType="application/json",
    )
    return f"s3://{bucket}/{key}"


def latest_record(bucket: str, stack: str, s3: Any = None) -> dict[str, Any] | None:
    """The stack's newest record (keys sort by their timestamp), or None before the first."""
    s3 = s3 or boto3.client("s3")
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{RECORDS_PREFIX}/{stack}/"
    ):
        keys += [item["Key"] for item in page.get("Contents", [])]
    if not keys:
        return None
    return json.loads(s3.get_object(Bucket=bucket, Key=max(keys))["Body"].read())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--image", help="REF@sha256:... (default: this commit's image in ECR)")
    parser.add_argument("--bucket", help="artifacts bucket (default: $ARTIFACTS_BUCKET)")
    parser.add_argument("--reports", type=Path, default=REPORTS_DIR)
    parser.add_argument("--dvc-lock", type=Path, default=DVC_LOCK)
    options = parser.parse_args(argv)
    at = datetime.now(UTC)
    try:
        bucket = artifacts_bucket(options.bucket)
        cost = stack_pod_cost(stack_config(options.stack))
        image = resolve_image(options.image)
        record = build_record(options.stack, image, cost, at, options.reports, options.dvc_lock)
        uri = write_record(record, bucket, record_key(options.stack, at, record["model_version"]))
    except (ShipError, PlanError, CostError, ClientError, BotoCoreError, ValueError) as error:
        print(f"rollout-record: {error}", file=sys.stderr)
        return 2
    markdown = to_markdown(record) + f"\nRecord: `{uri}`\n"
    print(markdown)
    write_summary(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
