"""The image's SBOM: a real image built with buildah and started with podman, the real
cyclonedx-py, and the registry on moto's S3."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import boto3
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from ml.core.artifacts import ShipError, index_key, sbom_key
from ml.core.identity import load_identity
from ml.release import sbom
from ml.release.publish import RegistryEntry
from tests.support.images import base_image

# Two small wheels from PyPI at exact pins, in a venv outside the image's usual path.
PINS = {"six": "1.16.0", "idna": "3.10"}
PYTHON = "/opt/env/bin/python"
DIGEST = "sha256:" + "ab" * 32
LABELS = {**load_identity().cost_labels("dev"), "git-sha": "3f2a9c1"}
CONTAINERFILE = """FROM {base}
COPY wheels/ /tmp/wheels/
RUN python3.11 -m venv /opt/env \\
    && /opt/env/bin/pip install --no-index --find-links /tmp/wheels --no-cache-dir \\
        --disable-pip-version-check {pins} \\
    && /opt/env/bin/pip uninstall --yes --disable-pip-version-check pip setuptools \\
    && rm -rf /tmp/wheels
"""


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A derived image whose /opt/env holds exactly PINS (pip and setuptools removed)."""
    base = base_image()
    context = tmp_path_factory.mktemp("sbom-image")
    pins = [f"{name}=={version}" for name, version in PINS.items()]
    download = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", "wheels", *pins]
    subprocess.run(download, cwd=context, check=True, capture_output=True)
    containerfile = CONTAINERFILE.format(base=base, pins=" ".join(pins))
    (context / "Containerfile").write_text(containerfile, encoding="utf-8")
    ref = f"localhost/sbom-test:{uuid.uuid4().hex[:12]}"
    # chroot isolation: as `make image` builds (ml/release/containers.py), wherever crun can't.
    build = ["buildah", "build", "--isolation", "chroot", "--layers=false", "-f", "Containerfile"]
    build += ["-t", ref, "."]
    subprocess.run(build, cwd=context, check=True, capture_output=True)
    try:
        yield ref
    finally:
        subprocess.run(["buildah", "rmi", ref], check=False, capture_output=True)


def _publish_entry(s3: Any, bucket: str, tag: str) -> None:
    """The bento's index entry, as `make publish` leaves it: what the SBOM goes beside."""
    name, version = tag.split(":")
    entry = RegistryEntry(
        bento_tag=tag,
        name=name,
        version=version,
        uri=f"s3://{bucket}/bentos/{name}/{version}.bento",
        sha256="0" * 64,
        size_bytes=1,
        labels=LABELS,
        models=[],
        created_at="2026-01-01T00:00:00+00:00",
    )
    s3.put_object(Bucket=bucket, Key=index_key(name, version), Body=json.dumps(asdict(entry)))


def _tags(s3: Any, bucket: str, key: str) -> dict[str, str]:
    tag_set = s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    return {tag["Key"]: tag["Value"] for tag in tag_set}


@pytest.mark.slow
def test_make_sbom_publishes_the_packages_the_image_holds(
    aws_env: str, image: str, tmp_path: Path
) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="sbom-registry")
    tag = "echo:v1sbom"
    _publish_entry(s3, "sbom-registry", tag)
    output = tmp_path / "sbom.cdx.json"
    argv = ["--image", image, "--bento", tag, "--bucket", "sbom-registry", "--tool", "podman"]
    argv += ["--python", PYTHON, "--digest", DIGEST, "--output", str(output)]

    assert sbom.main(argv) == 0

    text = output.read_text(encoding="utf-8")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    document = json.loads(text)
    assert document["specVersion"] == "1.6"
    components = {c["name"]: c for c in document["components"]}
    assert {name: c["version"] for name, c in components.items()} == PINS
    assert {c["purl"] for c in components.values()} == {
        f"pkg:pypi/{n}@{v}" for n, v in PINS.items()
    }
    assert components["six"]["licenses"][0]["license"]["id"] == "MIT"
    subject = document["metadata"]["component"]
    assert subject["type"] == "container"
    assert subject["name"] == image.rsplit(":", 1)[0]
    purl = PackageURL.from_string(subject["purl"])
    assert (purl.type, purl.name, purl.version) == ("oci", "sbom-test", DIGEST)
    assert purl.qualifiers == {"repository_url": subject["name"], "tag": image.rsplit(":", 1)[1]}
    properties = {p["name"]: p["value"] for p in subject["properties"]}
    assert properties["bento"] == tag
    assert properties["image:id"] == sbom.image_id("podman", image)

    key = sbom_key("echo", "v1sbom")
    stored = s3.get_object(Bucket="sbom-registry", Key=key)
    assert stored["Body"].read().decode() == text
    assert stored["ContentType"] == sbom.CONTENT_TYPE
    assert _tags(s3, "sbom-registry", key) == {
        **load_identity().cost_labels("dev"),
        "bento-name": "echo",
        "bento-version": "v1sbom",
    }


@pytest.mark.slow
def test_an_image_without_that_interpreter_is_a_clear_error(image: str) -> None:
    with pytest.raises(ShipError, match=f"listing the packages of {image} with /app/.venv"):
        sbom.inventory("podman", image)


def _metadata(name: str, version: str, license_id: str) -> sbom.Distribution:
    text = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nLicense: {license_id}\n"
    return sbom.Distribution(text)


@pytest.fixture(scope="module")
def documents() -> dict[str, str]:
    """Two SBOMs from the real cyclonedx-py: one environment, and one with a package changed."""
    first = [_metadata("six", "1.16.0", "MIT"), _metadata("idna", "3.10", "BSD-3-Clause")]
    second = [_metadata("six", "1.17.0", "MIT"), _metadata("idna", "3.10", "BSD-3-Clause")]
    return {
        "first": sbom.to_json(sbom.environment_bom(first)),
        "changed": sbom.to_json(sbom.environment_bom(second)),
    }


def test_an_sbom_is_written_once_and_never_replaced_by_another_environment(
    aws_env: str, documents: dict[str, str]
) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="sbom-once")
    tag = "echo:v2sbom"
    _publish_entry(s3, "sbom-once", tag)
    key = sbom_key("echo", "v2sbom")

    assert sbom.publish_sbom("sbom-once", tag, documents["first"]) is True
    head = s3.head_object(Bucket="sbom-once", Key=key)

    # The same packages from another build of the bento (another image) leave it as it is.
    rebuilt = json.loads(documents["first"])
    rebuilt["serialNumber"] = f"urn:uuid:{uuid.uuid4()}"
    assert sbom.publish_sbom("sbom-once", tag, json.dumps(rebuilt)) is False
    with pytest.raises(ShipError, match=r"another environment for echo:v2sbom \(pkg:pypi/six@1"):
        sbom.publish_sbom("sbom-once", tag, documents["changed"])
    assert s3.head_object(Bucket="sbom-once", Key=key)["ETag"] == head["ETag"]


def test_an_unpublished_bento_gets_no_sbom(aws_env: str, documents: dict[str, str]) -> None:
    boto3.client("s3").create_bucket(Bucket="sbom-unpublished")
    with pytest.raises(ShipError, match="echo:v3sbom is not published in s3://sbom-unpublished"):
        sbom.publish_sbom("sbom-unpublished", "echo:v3sbom", documents["first"])


@pytest.mark.parametrize(
    ("ref", "split"),
    [
        (
            "123.dkr.ecr.eu-west-1.amazonaws.com/ml/app:3f2a9c1",
            ("123.dkr.ecr.eu-west-1.amazonaws.com/ml/app", "3f2a9c1"),
        ),
        ("localhost:5000/app", ("localhost:5000/app", None)),
        (f"registry/app@{DIGEST}", ("registry/app", None)),
    ],
)
def test_image_refs_split_into_repository_and_tag(ref: str, split: tuple[str, str | None]) -> None:
    assert sbom.split_ref(ref) == split


def test_a_digest_that_is_not_sha256_is_refused() -> None:
    with pytest.raises(ShipError, match="image digest 'md5:00' is not sha256"):
        sbom.image_component("echo:v1", "registry/app:1", "sha256:" + "0" * 64, "md5:00")
