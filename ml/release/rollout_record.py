"""`make rollout-record STACK=<stack>`: what a rollout put in front of users, kept for good.

    python -m ml.release.rollout_record --stack dev [--image REF@sha256:...] [--bucket NAME]

Writes one JSON record to `s3://<bucket>/rollouts/<stack>/<UTC timestamp>-<model version>.json`
and the same facts as markdown to the job summary: the model version and bento tag, the image by
digest, the commit, the data hash (dvc.lock's entry for the ingested table), the evaluation
metrics, the cost labels, and the estimated hourly cost of the serving pods, as
`python -m infra.tools.cost pod --stack <stack> --format json` prints it (each pod's share of the
node it lands on at the price table's rate, at the HPA's floor and at its ceiling).
The newest record of a stack is what `make up` keeps deployed when it ships no new model.
Then the stack's stage in the registry (`staging` for dev, `production` for prod:
ml/release/aliases.py) moves to the version and image the rollout shipped, naming the record.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ml.core.artifacts import (
    DRIFT_MODULE,
    ShipError,
    artifacts_bucket,
    bento_report,
    run_url,
    write_summary,
)
from ml.core.cli import emit
from ml.core.identity import load_identity
from ml.core.params import load_params
from ml.core.paths import BENTO_INFO_FILE, DVC_LOCK, METRICS_FILE, REPO_ROOT, REPORTS_DIR
from ml.pipeline.package import PackageError, data_record, read_lock
from ml.release.aliases import mark_rollout
from ml.release.aliases import to_markdown as alias_markdown
from ml.release.image import REPOSITORY_ENV, Repository, ecr_client, git_sha, pushed_digest
from ml.release.publish import RegistryEntry

RECORDS_PREFIX = "rollouts"


def record_key(stack: str, at: datetime, version: str) -> str:
    return f"{RECORDS_PREFIX}/{stack}/{at.strftime('%Y%m%dT%H%M%SZ')}-{version}.json"


def estimated_cost(stack: str) -> dict[str, Any]:
    """The serving pods' hourly cost, as the infra pod command prints it (stack file, EC2)."""
    module = ["infra.tools.cost", "pod", "--stack", stack, "--format", "json"]
    shown = f"`python -m {' '.join(module)}`"
    try:
        result = subprocess.run(
            [sys.executable, "-m", *module],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ShipError(f"{shown} did not finish within 300 s") from None
    if result.returncode != 0:
        raise ShipError(f"{shown} failed:\n{result.stderr.strip()}")
    try:
        cost = json.loads(result.stdout)
    except json.JSONDecodeError as error:
        raise ShipError(f"{shown} printed no JSON: {error}") from None
    if not isinstance(cost, dict):
        raise ShipError(f"{shown} printed no JSON object")
    return cost


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
    cost: Mapping[str, Any],
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
        # The image was built from this checkout: the stack keeps running its drift module.
        "drift_module": DRIFT_MODULE,
        "git_sha": git_sha(),
        "data_md5": data_md5(lock_file),
        "metrics": json.loads((reports / METRICS_FILE.name).read_text(encoding="utf-8")),
        "cost_labels": load_identity().cost_labels(stack),
        "estimated_cost": dict(cost),
        "run_url": run_url(),
        "actor": os.environ.get("GITHUB_ACTOR"),
    }


def registry_record(
    stack: str, entry: RegistryEntry, image: str, cost: Mapping[str, Any], at: datetime, reason: str
) -> dict[str, Any]:
    """The record of rolling out a published version again (`make promote`, `make rollback`):
    the same fields as build_record, from the registry's index entry instead of the checkout's
    reports, since the checkout need not hold that model."""
    labels = entry.labels
    metrics = {
        key.removeprefix("metrics."): _number(value)
        for key, value in labels.items()
        if key.startswith("metrics.")
    }
    return {
        "stack": stack,
        "recorded_at": at.isoformat(),
        "model_version": entry.version,
        "bento_tag": entry.bento_tag,
        "model_tag": entry.models[0] if entry.models else None,
        "image": image,
        "image_digest": image.rpartition("@")[2],
        # Images the registry's aliases name were built from the package layout.
        "drift_module": DRIFT_MODULE,
        "git_sha": labels.get("git-commit"),
        "data_md5": labels.get("data-md5"),
        "metrics": metrics,
        "cost_labels": load_identity().cost_labels(stack),
        "estimated_cost": dict(cost),
        "run_url": run_url(),
        "actor": os.environ.get("GITHUB_ACTOR"),
        "reason": reason,
    }


def _number(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value


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
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--image", help="REF@sha256:... (default: this commit's image in ECR)")
    parser.add_argument("--bucket", help="artifacts bucket (default: $ARTIFACTS_BUCKET)")
    parser.add_argument("--reports", type=Path, default=REPORTS_DIR)
    parser.add_argument("--dvc-lock", type=Path, default=DVC_LOCK)
    options = parser.parse_args(argv)
    at = datetime.now(UTC)
    try:
        bucket = artifacts_bucket(options.bucket)
        cost = estimated_cost(options.stack)
        image = resolve_image(options.image)
        record = build_record(options.stack, image, cost, at, options.reports, options.dvc_lock)
        key = record_key(options.stack, at, record["model_version"])
        uri = write_record(record, bucket, key)
        # The stack's stage (staging, production) now names what the rollout shipped.
        moved = mark_rollout(bucket, options.stack, record["bento_tag"], image, key)
    except (ShipError, ClientError, BotoCoreError, ValueError) as error:
        print(f"rollout-record: {error}", file=sys.stderr)
        return 2
    markdown = to_markdown(record) + f"\nRecord: `{uri}`\n"
    if moved:
        markdown += f"\n{alias_markdown(moved)}"
    emit(markdown)
    write_summary(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
