"""Rollout records against moto (S3, EC2's instance types, ECR) and the real dev stack file.

The pods' cost comes from `python -m infra.tools.cost pod`, run for real (its own tests are in
tests/infra/tools/test_cost_pod.py); these tests read the stack file and price table as plain YAML.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from ml.core.artifacts import DRIFT_MODULE, ShipError
from ml.core.identity import load_identity
from ml.core.params import load_params
from ml.core.paths import REPO_ROOT
from ml.release import rollout_record
from tests.ml.release.test_image import MANIFEST

IDENTITY = load_identity()
DIGEST = "sha256:" + "c" * 64
IMAGE = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{IDENTITY.project}-dev/bentos@{DIGEST}"
DEV = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text(encoding="utf-8"))["config"]
SYSTEM_POOL = DEV[f"{IDENTITY.project}:cluster"]["systemPool"]
SERVING = DEV[f"{IDENTITY.project}:serving"]
PRICES = yaml.safe_load((REPO_ROOT / "infra/tools/cost/prices.yaml").read_text(encoding="utf-8"))


def _price(pool: dict[str, Any]) -> float:
    """The price table's hourly rate for the pool's first instance type and capacity type."""
    prices = PRICES["regions"][DEV["aws:region"]]
    spot = pool["capacityType"] == "SPOT"
    return prices["ec2_spot_hourly" if spot else "ec2_on_demand_hourly"][pool["instanceTypes"][0]]


@pytest.fixture
def reports(tmp_path: Path) -> tuple[Path, Path]:
    """A package stage's reports and a dvc.lock, as the pipeline leaves them."""
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "bento.json").write_text(
        json.dumps(
            {
                "bento": "breast-cancer-classifier:0123456789abcdef",
                "model": "breast-cancer-classifier:fedcba9876543210",
                "labels": {"git-commit": "3f2a9c1"},
            }
        ),
        encoding="utf-8",
    )
    (folder / "metrics.json").write_text(
        json.dumps({"accuracy": 0.965, "roc_auc": 0.994}), encoding="utf-8"
    )
    lock = tmp_path / "dvc.lock"
    output = load_params().ingest.output
    lock.write_text(
        yaml.safe_dump(
            {"schema": "2.0", "stages": {"ingest": {"outs": [{"path": output, "md5": "d41d8"}]}}}
        ),
        encoding="utf-8",
    )
    return folder, lock


def test_the_estimate_is_infras_pod_cost_command(aws_env: str) -> None:
    cost = rollout_record.estimated_cost("dev")
    node = cost["node"]
    # The dev stack's system pool starts with t3a.medium: 2 vCPU and 4 GiB.
    assert (node["instance_type"], node["vcpus"], node["memory_mib"]) == ("t3a.medium", 2, 4096)
    assert (node["gpus"], node["capacity_type"]) == (0, SYSTEM_POOL["capacityType"])
    assert node["hourly_usd"] == _price(SYSTEM_POOL)
    # The larger of the pod's CPU share of 2 vCPU and its memory share of 4 GiB.
    share = max(SERVING["cpuMillicores"] / 2000, SERVING["memoryMib"] / 4096)
    assert cost == {
        "node": node,
        "share_of_node": share,
        "min_replicas": SERVING["minReplicas"],
        "max_replicas": SERVING["maxReplicas"],
        "hourly_usd_min": round(SERVING["minReplicas"] * share * _price(SYSTEM_POOL), 4),
        "hourly_usd_max": round(SERVING["maxReplicas"] * share * _price(SYSTEM_POOL), 4),
    }


def test_a_failing_estimate_is_a_ship_error_with_its_stderr() -> None:
    with pytest.raises(ShipError, match=r"(?s)infra.tools.cost pod --stack nope.*failed.*Pulumi"):
        rollout_record.estimated_cost("nope")


def test_record_goes_to_the_bucket_and_the_job_summary(
    aws_env: str,
    reports: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bucket = f"artifacts-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_SHA", "3f2a9c1" + "0" * 33)
    for key, value in {
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": IDENTITY.repository,
        "GITHUB_RUN_ID": "42",
    }.items():
        monkeypatch.setenv(key, value)
    folder, lock = reports

    assert rollout_record.latest_record(bucket, "dev") is None
    args = ["--stack", "dev", "--bucket", bucket, "--image", IMAGE]
    assert rollout_record.main([*args, "--reports", str(folder), "--dvc-lock", str(lock)]) == 0

    (key,) = [
        o["Key"]
        for o in boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix="rollouts/")["Contents"]
    ]
    assert key.startswith("rollouts/dev/") and key.endswith("-0123456789abcdef.json")
    record = rollout_record.latest_record(bucket, "dev")
    assert record is not None
    assert record["model_version"] == "0123456789abcdef"
    assert record["bento_tag"] == "breast-cancer-classifier:0123456789abcdef"
    assert (record["image"], record["image_digest"]) == (IMAGE, DIGEST)
    # The stack keeps running the drift module of the image it records.
    assert record["drift_module"] == DRIFT_MODULE
    assert record["data_md5"] == "d41d8"
    assert record["metrics"] == {"accuracy": 0.965, "roc_auc": 0.994}
    assert record["cost_labels"] == IDENTITY.cost_labels("dev")
    share = max(SERVING["cpuMillicores"] / 2000, SERVING["memoryMib"] / 4096)
    expected = SERVING["minReplicas"] * share * _price(SYSTEM_POOL)
    assert record["estimated_cost"]["hourly_usd_min"] == round(expected, 4)
    assert record["run_url"] == f"https://github.com/{IDENTITY.repository}/actions/runs/42"
    markdown = summary.read_text(encoding="utf-8")
    assert "### Rollout to dev" in markdown
    assert f"Record: `s3://{bucket}/{key}`" in markdown
    capacity = SYSTEM_POOL["capacityType"].lower().replace("_", "-")
    assert f"of a {capacity} t3a.medium" in markdown
    assert "accuracy 0.9650" in capsys.readouterr().out


def test_latest_record_is_the_newest_key(aws_env: str) -> None:
    bucket = f"artifacts-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    for day, version in ((1, "old"), (3, "new"), (2, "middle")):
        at = datetime(2026, 1, day, tzinfo=UTC)
        key = rollout_record.record_key("prod", at, version)
        rollout_record.write_record({"model_version": version}, bucket, key)
    rollout_record.write_record(
        {"model_version": "dev-only"},
        bucket,
        rollout_record.record_key("dev", datetime.now(UTC), "x"),
    )
    latest = rollout_record.latest_record(bucket, "prod")
    assert latest == {"model_version": "new"}


def test_an_image_without_a_digest_is_refused() -> None:
    with pytest.raises(ShipError, match="must name a digest"):
        rollout_record.resolve_image("repo/name:3f2a9c1")


def test_the_image_is_looked_up_in_ecr_by_commit(
    aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ecr = boto3.client("ecr")
    name = f"bentos-{uuid.uuid4().hex[:6]}"
    url = ecr.create_repository(repositoryName=name)["repository"]["repositoryUri"]
    monkeypatch.setenv("ECR_REPOSITORY_URL", url)
    monkeypatch.setenv("GITHUB_SHA", "a" * 40)
    with pytest.raises(ShipError, match="run `make image` first"):
        rollout_record.resolve_image(None)
    digest = ecr.put_image(repositoryName=name, imageManifest=MANIFEST, imageTag="a" * 40)["image"][
        "imageId"
    ]["imageDigest"]
    assert rollout_record.resolve_image(None) == f"{url}@{digest}"


def test_missing_reports_name_the_file(
    aws_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--stack", "dev", "--bucket", "b", "--image", IMAGE, "--reports", str(tmp_path)]
    assert rollout_record.main(args) == 2
    assert "bento.json not found" in capsys.readouterr().err
