"""`make publish` against moto's S3 with a real bento built in a throwaway BentoML home."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from ml.core.artifacts import ShipError, model_key
from ml.core.identity import load_identity
from ml.release import publish
from tests.support.tiny_bento import LABELS, bentoml_env, build_tiny_bento


@pytest.fixture(scope="module")
def bento(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A real bento and the BentoML home that stores it."""
    home = tmp_path_factory.mktemp("bentoml-home")
    return build_tiny_bento(tmp_path_factory.mktemp("echo"), home), home


def _run_publish(tag: str, home: Path, bucket: str, summary: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ml.release.publish", "--bento", tag],
        env=bentoml_env(home, ARTIFACTS_BUCKET=bucket, GITHUB_STEP_SUMMARY=str(summary)),
        capture_output=True,
        text=True,
        check=False,
    )


def test_publish_exports_the_bento_with_its_labels_and_an_index_entry(
    aws_env: str, bento: tuple[str, Path], tmp_path: Path
) -> None:
    tag, home = bento
    name, version = tag.split(":")
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="artifacts")
    summary = tmp_path / "summary.md"

    first = _run_publish(tag, home, "artifacts", summary)
    assert first.returncode == 0, first.stderr
    key = f"bentos/{name}/{version}.bento"
    head = s3.head_object(Bucket="artifacts", Key=key)
    assert head["Metadata"]["git-sha"] == "3f2a9c1"
    assert head["Metadata"]["cost-center"] == LABELS["cost-center"]
    tags = {
        t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket="artifacts", Key=key)["TagSet"]
    }
    assert tags == {
        **load_identity().cost_labels("dev"),
        "bento-name": name,
        "bento-version": version,
    }

    entry = json.loads(
        s3.get_object(Bucket="artifacts", Key=f"bentos/{name}/{version}.json")["Body"].read()
    )
    assert entry["bento_tag"] == tag
    assert entry["uri"] == f"s3://artifacts/{key}"
    assert entry["labels"] == LABELS
    assert entry["sha256"] == head["Metadata"]["sha256"]
    assert entry["size_bytes"] == head["ContentLength"]
    assert f"Bento {tag} published" in summary.read_text(encoding="utf-8")

    # The archive is a real bento: it imports into an empty store under the same tag.
    archive = tmp_path / "downloaded.bento"
    s3.download_file("artifacts", key, str(archive))
    other_home = tmp_path / "other-home"
    imported = subprocess.run(
        ["bentoml", "import", str(archive)],
        env=bentoml_env(other_home),
        capture_output=True,
        text=True,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    assert tag in imported.stdout

    # Publishing again leaves the registry as it was.
    second = _run_publish(tag, home, "artifacts", summary)
    assert second.returncode == 0, second.stderr
    assert "already published" in second.stdout
    again = s3.head_object(Bucket="artifacts", Key=key)
    assert again["ETag"] == head["ETag"]
    assert again["LastModified"] == head["LastModified"]


def test_missing_bucket_setting_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ARTIFACTS_BUCKET", raising=False)
    assert publish.main(["--bento", "echo:abc"]) == 2
    assert "ARTIFACTS_BUCKET" in capsys.readouterr().err


def test_a_bucket_that_does_not_exist_is_a_clear_error(
    aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert publish.main(["--bento", "echo:abc", "--bucket", "no-such-bucket"]) == 2
    assert "bucket no-such-bucket is missing or not readable" in capsys.readouterr().err


@pytest.mark.parametrize("tag", ["echo", "echo:latest", ":abc"])
def test_a_tag_without_a_concrete_version_is_refused(tag: str) -> None:
    with pytest.raises(ShipError, match="NAME:VERSION"):
        publish.split_tag(tag)


def test_metadata_keys_are_header_safe() -> None:
    assert publish.metadata_from_labels({"App.Kubernetes.io/Name": "é-x"}) == {
        "app-kubernetes-io-name": "?-x"
    }


def test_publish_uploads_the_bento_s_model_file_once(
    aws_env: str, model_bento: tuple[str, Path], model_files: dict[str, Path], tmp_path: Path
) -> None:
    """The model goes to model_key as the train stage wrote it; a re-publish leaves it alone,
    and a version published before model files were uploaded gets its file."""
    tag, home = model_bento
    name, version = tag.split(":")
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="models-registry")
    summary = tmp_path / "summary.md"
    key = model_key(name, version)

    first = _run_publish(tag, home, "models-registry", summary)
    assert first.returncode == 0, first.stderr
    assert f"model file uploaded to s3://models-registry/{key}" in first.stdout
    body = s3.get_object(Bucket="models-registry", Key=key)["Body"].read()
    assert body == model_files["shipped"].read_bytes()
    head = s3.head_object(Bucket="models-registry", Key=key)

    again = _run_publish(tag, home, "models-registry", summary)
    assert again.returncode == 0, again.stderr
    assert "already published" in again.stdout
    assert "model file uploaded" not in again.stdout
    assert s3.head_object(Bucket="models-registry", Key=key)["ETag"] == head["ETag"]

    s3.delete_object(Bucket="models-registry", Key=key)
    backfilled = _run_publish(tag, home, "models-registry", summary)
    assert backfilled.returncode == 0, backfilled.stderr
    assert "already published" in backfilled.stdout
    assert s3.get_object(Bucket="models-registry", Key=key)["Body"].read() == body


def test_a_bento_without_its_own_model_publishes_without_a_model_file(
    aws_env: str, bento: tuple[str, Path], tmp_path: Path
) -> None:
    tag, home = bento
    name, version = tag.split(":")
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="echo-registry")

    result = _run_publish(tag, home, "echo-registry", tmp_path / "summary.md")

    assert result.returncode == 0, result.stderr
    assert "holds no model of its own name: no model file" in result.stdout
    listed = s3.list_objects_v2(Bucket="echo-registry", Prefix=model_key(name, version))
    assert listed["KeyCount"] == 0
