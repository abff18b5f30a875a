"""The CycloneDX SBOM of a bento's image, published beside the bento in the model registry.

    python -m ml.release.sbom --image REF [--bento NAME:VERSION] [--bucket NAME] [--digest D]
        [--tool podman|docker] [--python PATH] [--output FILE]

The image's own interpreter lists what its Python environment holds (a standard-library script,
since the image has no pip), so the inventory is what the server imports, not what a lock file
says. Each distribution's metadata is copied into an empty local virtual environment and
`cyclonedx-py environment` reads it there: names, versions, purls, licenses and the dependency
graph come from the CycloneDX tool, not from code of ours. The BOM's subject is the image (its
ref, digest and id) and the bento it serves.

It goes to `s3://<bucket>/bentos/<name>/<version>/sbom.cdx.json` with the archive's object tags.
A bento version has one SBOM: writing it again is a no-op when the packages are the same (a
rebuild at another commit), and refused when they differ, so the registry never describes an
environment other than the one first shipped under that version.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
import venv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
from botocore.exceptions import ClientError
from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from ml.core.artifacts import ShipError, artifacts_bucket, bento_tag, sbom_key, split_tag
from ml.core.cli import emit
from ml.core.identity import COST_LABEL_KEYS
from ml.core.s3 import is_missing_key
from ml.release.containers import BUILDER_ENV, choose_builder, image_runner, run_command
from ml.release.publish import read_entry

Runner = Callable[..., subprocess.CompletedProcess]

# The bento's environment in the image (ml/release/templates/Dockerfile.j2).
IMAGE_PYTHON = "/app/.venv/bin/python"
CONTENT_TYPE = "application/vnd.cyclonedx+json"
# The archive's object tags (ml/release/publish.py): cost labels plus which bento this is.
TAG_KEYS = (*COST_LABEL_KEYS, "bento-name", "bento-version")
ROOT_REF = "image"

# Run by the image's interpreter: the standard library only. -I keeps the working directory and
# PYTHON* variables out of sys.path; the first of two same-named distributions is the one imported.
_INVENTORY = """
import importlib.metadata, json, re, sys
seen = {}
for dist in importlib.metadata.distributions():
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
    if text and dist.metadata["Name"]:
        key = re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
        seen.setdefault(key, {"metadata": text, "direct_url": dist.read_text("direct_url.json")})
json.dump(list(seen.values()), sys.stdout)
"""


@dataclass(frozen=True)
class Distribution:
    """One installed distribution: its core metadata file, and PEP 610's record of its source."""

    metadata: str
    direct_url: str | None = None

    @property
    def name(self) -> str:
        return str(HeaderParser().parsestr(self.metadata)["Name"])

    @property
    def version(self) -> str:
        return str(HeaderParser().parsestr(self.metadata)["Version"])


def inventory(
    tool: str, image: str, python: str = IMAGE_PYTHON, run: Runner = subprocess.run
) -> list[Distribution]:
    """The distributions `python` sees inside `image`, listed by starting the image itself."""
    # run_command: the same runtime options and limits as every other start of an image here.
    command = run_command(tool, image, ["-I", "-c", _INVENTORY], entrypoint=python, network="none")
    result = run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip().splitlines()[-1:] or ["no output"]
        raise ShipError(f"listing the packages of {image} with {python} failed: {detail[0]}")
    try:
        listed = json.loads(result.stdout)
        return [Distribution(item["metadata"], item.get("direct_url")) for item in listed]
    except (json.JSONDecodeError, TypeError, KeyError) as error:
        raise ShipError(f"{image}: unreadable package list from {python}: {error}") from None


def _local_path(direct_url: str) -> bool:
    try:
        return str(json.loads(direct_url).get("url", "")).startswith("file:")
    except (json.JSONDecodeError, AttributeError):
        return False


def _environment_copy(distributions: Sequence[Distribution], root: Path) -> Path:
    """An empty virtual environment holding the distributions' metadata, as installers lay it."""
    venv.EnvBuilder(with_pip=False).create(root)
    purelib = subprocess.run(
        [
            str(root / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_path('purelib'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for dist in distributions:
        folder = re.sub(r"[-_.]+", "_", dist.name).lower()
        info = Path(purelib) / f"{folder}-{dist.version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(dist.metadata, encoding="utf-8")
        # A wheel installed from a path of the image's build context is still the index's
        # release (the wheels are fetched at the pins beforehand); a path there means nothing
        # outside the build, and would cost the component its purl.
        if dist.direct_url and not _local_path(dist.direct_url):
            (info / "direct_url.json").write_text(dist.direct_url, encoding="utf-8")
    return root


def environment_bom(distributions: Sequence[Distribution]) -> Bom:
    """`cyclonedx-py environment` over a copy of the distributions' metadata."""
    with tempfile.TemporaryDirectory() as tmp:
        env = _environment_copy(distributions, Path(tmp) / "env")
        command = [sys.executable, "-m", "cyclonedx_py", "environment", "--sv", "1.6"]
        # --no-validate: to_json() checks the finished document, the one that is published.
        command += ["--no-validate", "--output-file", "-", str(env)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ShipError(f"cyclonedx-py environment failed: {result.stderr.strip()}")
    return Bom.from_json(json.loads(result.stdout))  # type: ignore[attr-defined]


def image_id(tool: str, image: str, run: Runner = subprocess.run) -> str:
    """The local image's id (its config digest), `sha256:<hex>` whichever tool reports it."""
    command = [tool, "image", "inspect", "--format", "{{.Id}}", image]
    result = run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ShipError(f"{tool} has no image {image}: {result.stderr.strip()}")
    return "sha256:" + result.stdout.strip().removeprefix("sha256:")


def split_ref(image: str) -> tuple[str, str | None]:
    """`host/name:tag` -> (`host/name`, `tag`); a ref by digest or without a tag has no tag."""
    repository = image.split("@", 1)[0]
    head, sep, tag = repository.rpartition(":")
    if sep and "/" not in tag and "@" not in image:
        return head, tag
    return repository, None


def image_component(bento: str, image: str, local_id: str, digest: str | None) -> Component:
    """The BOM's subject: the image by ref (and by registry digest once pushed), with its bento."""
    repository, tag = split_ref(image)
    properties = [Property(name="bento", value=bento), Property(name="image:id", value=local_id)]
    component = Component(
        type=ComponentType.CONTAINER,
        bom_ref=ROOT_REF,
        name=repository,
        version=tag,
        properties=properties,
    )
    if digest:
        algorithm, _, value = digest.partition(":")
        if algorithm != "sha256" or not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ShipError(f"image digest {digest!r} is not sha256:<64 hex digits>")
        qualifiers = {"repository_url": repository, **({"tag": tag} if tag else {})}
        name = repository.rsplit("/", 1)[-1]
        component.purl = PackageURL(type="oci", name=name, version=digest, qualifiers=qualifiers)
        component.hashes.add(HashType(alg=HashAlgorithm.SHA_256, content=value))
    return component


def to_json(bom: Bom) -> str:
    """The BOM as CycloneDX 1.6 JSON, checked against the specification's schema."""
    document = JsonV1Dot6(bom).output_as_string(indent=2)
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(document)
    if error is not None:
        raise ShipError(f"the SBOM does not match the CycloneDX 1.6 schema: {error}")
    return document + "\n"


def sbom_for(
    tool: str,
    image: str,
    python: str = IMAGE_PYTHON,
    *,
    bento: str,
    digest: str | None = None,
    run: Runner = subprocess.run,
) -> str:
    """The CycloneDX 1.6 JSON SBOM of `image`'s Python environment, naming `bento` (NAME:VERSION)
    and, when pushed, the image's registry `digest`. `tool` starts the image (docker or podman)."""
    split_tag(bento)
    local_id = image_id(tool, image, run)
    bom = environment_bom(inventory(tool, image, python, run))
    root = image_component(bento, image, local_id, digest)
    bom.metadata.component = root
    # The image depends on what nothing else in it requires: the top of the dependency graph.
    required = {target.ref for dep in bom.dependencies for target in dep.dependencies}
    bom.register_dependency(root, [c for c in bom.components if c.bom_ref not in required])
    # One serial number per bento and image, so the same inputs give the same document.
    bom.serial_number = uuid.uuid5(uuid.NAMESPACE_URL, f"{bento}@{digest or local_id}")
    return to_json(bom)


def _packages(document: dict[str, Any]) -> set[str]:
    """What a BOM's environment holds, for comparing two BOMs of one bento."""
    return {
        str(c.get("purl") or f"{c.get('name')}@{c.get('version')}")
        for c in document.get("components", [])
    }


def _read(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as error:
        if is_missing_key(error):
            return None
        raise


def _same_or_refuse(existing: dict[str, Any], document: str, where: str, tag: str) -> None:
    before, after = _packages(existing), _packages(json.loads(document))
    if before != after:
        changed = sorted(before ^ after)
        raise ShipError(
            f"{where} already lists another environment for {tag} ({', '.join(changed[:6])}"
            f"{' ...' if len(changed) > 6 else ''} differ): package the bento again "
            "(`dvc repro -f --single-item package`) so the new environment gets its own version"
        )


def publish_sbom(bucket: str, tag: str, document: str, s3: Any = None) -> bool:
    """Put the SBOM beside the published bento once; whether this call wrote it."""
    name, version = split_tag(tag)
    s3 = s3 or boto3.client("s3")
    key = sbom_key(name, version)
    where = f"s3://{bucket}/{key}"
    # The bento's labels come from its index entry: an SBOM only goes beside a published bento.
    labels = read_entry(bucket, tag, s3).labels
    existing = _read(s3, bucket, key)
    if existing is not None:
        _same_or_refuse(existing, document, where, tag)
        return False
    tags = {**labels, "bento-name": name, "bento-version": version}
    body = document.encode()
    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType=CONTENT_TYPE,
            Metadata={"sha256": hashlib.sha256(body).hexdigest()},
            Tagging=urlencode([(k, tags[k]) for k in TAG_KEYS if k in tags]),
            IfNoneMatch="*",  # another run writing meanwhile loses, never overwrites
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in {"PreconditionFailed", "412"}:
            raise
        _same_or_refuse(_read(s3, bucket, key) or {}, document, where, tag)
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True, help="the built image's ref")
    parser.add_argument("--bento", help="NAME:VERSION (default: reports/bento.json)")
    parser.add_argument("--bucket", help="artifacts bucket (default: $ARTIFACTS_BUCKET)")
    parser.add_argument("--digest", help="the image's registry digest, once pushed")
    parser.add_argument("--tool", help="docker or podman (default: the one that starts images)")
    parser.add_argument("--python", default=IMAGE_PYTHON, help="the environment's interpreter")
    parser.add_argument("--output", type=Path, help="also write the SBOM to this file")
    options = parser.parse_args(argv)
    try:
        tag = bento_tag(options.bento)
        tool = options.tool or image_runner(choose_builder(os.environ.get(BUILDER_ENV)))
        document = sbom_for(tool, options.image, options.python, bento=tag, digest=options.digest)
        if options.output:
            options.output.write_text(document, encoding="utf-8")
        bucket = artifacts_bucket(options.bucket)
        written = publish_sbom(bucket, tag, document)
    except (ShipError, ClientError) as error:
        print(f"sbom: {error}", file=sys.stderr)
        return 2
    name, version = split_tag(tag)
    state = "published" if written else "already published (same packages, left as is)"
    emit(
        f"sbom: {len(json.loads(document)['components'])} packages, {state}: "
        f"s3://{bucket}/{sbom_key(name, version)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
