"""`make publish`: the bento goes to the model registry, the stack's artifacts bucket.

    python -m ml.release.publish [--bento NAME:VERSION] [--bucket NAME]

The registry is keyed by bento tag: the archive (`bentoml export`) at
`s3://<bucket>/bentos/<name>/<version>.bento`, its labels (cost labels and lineage) as S3 object
metadata, the cost labels and the tag as S3 object tags (what AWS cost and access policies see),
and an index entry beside it, `<version>.json`, that lists everything about the bento without
downloading it. A published version is never overwritten: publishing it again is a no-op, so a
rerun of the deploy workflow is safe. `bentoml import s3://<bucket>/bentos/<name>/<version>.bento`
(or downloading it and `bentoml import <file>`) brings a bento back.

The model file (models/model.joblib of the run that built the bento, as BentoML's store keeps
it) goes beside it as `s3://<bucket>/bentos/<name>/<version>/model.joblib`: the champion a later
candidate is compared with (ml/release/gate.py). A version published before model files were
uploaded gets its file on the next publish, when the bento is in the local store.

The training rows the model learned from (data/prepared/train.csv, when present) go beside it as
`s3://<bucket>/reference/<name>/<version>/train.csv`: the cluster's drift CronJob compares the
logged requests with them (infra/components/serving/drift_job.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
from botocore.exceptions import ClientError

from ml.core.artifacts import (
    ShipError,
    archive_key,
    artifacts_bucket,
    bento_tag,
    index_key,
    model_key,
    reference_key,
    split_tag,
    write_summary,
)
from ml.core.cli import emit
from ml.core.identity import COST_LABEL_KEYS
from ml.core.paths import TRAIN_FILE, use_repo_bentoml_home
from ml.core.s3 import is_missing_key
from ml.release.aliases import CANDIDATE, mark_candidate

# S3 allows ten tags per object: the cost labels plus which bento this is.
_TAG_KEYS = (*COST_LABEL_KEYS, "bento-name", "bento-version")


@dataclass(frozen=True)
class RegistryEntry:
    """One published bento, as its index entry in the bucket records it."""

    bento_tag: str
    name: str
    version: str
    uri: str
    sha256: str
    size_bytes: int
    labels: dict[str, str]
    models: list[str]
    created_at: str
    published_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


def metadata_from_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """S3 user metadata: header-safe lowercase keys and printable ASCII values."""
    metadata = {}
    for key, value in labels.items():
        safe_key = re.sub(r"[^a-z0-9-]+", "-", key.lower()).strip("-")
        metadata[safe_key] = str(value).encode("ascii", "replace").decode()
    return metadata


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as archive:
        for block in iter(lambda: archive.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if is_missing_key(error):
            return False
        raise
    return True


def read_entry(bucket: str, tag: str, s3: Any = None) -> RegistryEntry:
    """The index entry of a published bento."""
    s3 = s3 or boto3.client("s3")
    name, version = split_tag(tag)
    try:
        body = s3.get_object(Bucket=bucket, Key=index_key(name, version))["Body"].read()
    except ClientError as error:
        raise ShipError(f"{tag} is not published in s3://{bucket}: {error}") from None
    return RegistryEntry(**json.loads(body))


def publish_reference(bucket: str, name: str, version: str, rows: Path, s3: Any) -> bool:
    """Upload the training rows beside the bento once; whether this call uploaded them."""
    key = reference_key(name, version)
    if not rows.is_file() or _exists(s3, bucket, key):
        return False
    s3.upload_file(str(rows), bucket, key, ExtraArgs={"ContentType": "text/csv"})
    return True


def bento_model_file(bento: Any) -> Path | None:
    """The bento's own model as a joblib file in the local store (the package stage saves it with
    bentoml.sklearn under the bento's name), or None for a bento without one."""
    import bentoml

    for info in bento.info.all_models:
        if info.tag.name == bento.tag.name and info.module == "bentoml.sklearn":
            return Path(bentoml.models.get(info.tag).path_of(bentoml.sklearn.MODEL_FILENAME))
    return None


def publish_model(bucket: str, name: str, version: str, bento: Any, s3: Any) -> bool:
    """Upload the bento's model file once; whether this call uploaded it."""
    key = model_key(name, version)
    if _exists(s3, bucket, key):
        return False
    model = bento_model_file(bento)
    if model is None:
        print(f"publish: {name}:{version} holds no model of its own name: no model file")
        return False
    extra = {"ContentType": "application/octet-stream", "Metadata": {"sha256": _sha256(model)}}
    s3.upload_file(str(model), bucket, key, ExtraArgs=extra)
    print(f"publish: model file uploaded to s3://{bucket}/{key}")
    return True


def _local_bento(tag: str) -> Any:
    """The bento in the local store, or None when it is not there."""
    use_repo_bentoml_home()
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        return bentoml.get(tag)
    except NotFound:
        return None


def backfill_model(bucket: str, tag: str, s3: Any) -> None:
    """A version published before model files were uploaded gets its file, from the store."""
    name, version = split_tag(tag)
    if _exists(s3, bucket, model_key(name, version)):
        return
    bento = _local_bento(tag)
    if bento is None:
        print(f"publish: {tag} has no model file in the registry and is not in the local store")
        return
    publish_model(bucket, name, version, bento, s3)


def publish(
    tag: str, bucket: str, s3: Any = None, reference: Path | None = None
) -> tuple[RegistryEntry, bool]:
    """Export the bento to the bucket; returns its entry and whether this call uploaded it.
    `reference` (the training rows), when the file exists, goes beside it if not there yet."""
    name, version = split_tag(tag)
    s3 = s3 or boto3.client("s3")
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        raise ShipError(f"bucket {bucket} is missing or not readable: {error}") from None
    if reference is not None and publish_reference(bucket, name, version, reference, s3):
        print(f"publish: training rows uploaded to s3://{bucket}/{reference_key(name, version)}")
    if _exists(s3, bucket, index_key(name, version)):
        backfill_model(bucket, tag, s3)
        return read_entry(bucket, tag, s3), False
    bento = _local_bento(tag)
    if bento is None:
        raise ShipError(
            f"bento {tag} is not in the local store: run `make repro`, or `dvc repro --force "
            "--single-item package` when the pipeline is already up to date (a fresh clone)"
        )
    import bentoml

    publish_model(bucket, name, version, bento, s3)
    labels = {str(k): str(v) for k, v in bento.info.labels.items()}
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(bentoml.export_bento(tag, str(Path(tmp) / f"{version}.bento")))
        entry = RegistryEntry(
            bento_tag=tag,
            name=name,
            version=version,
            uri=f"s3://{bucket}/{archive_key(name, version)}",
            sha256=_sha256(archive),
            size_bytes=archive.stat().st_size,
            labels=labels,
            models=[str(model.tag) for model in bento.info.all_models],
            created_at=bento.info.creation_time.isoformat(),
        )
        tags = {**labels, "bento-name": name, "bento-version": version}
        s3.upload_file(
            str(archive),
            bucket,
            archive_key(name, version),
            ExtraArgs={
                "Metadata": {**metadata_from_labels(labels), "sha256": entry.sha256},
                "Tagging": urlencode([(key, tags[key]) for key in _TAG_KEYS if key in tags]),
                "ContentType": "application/x-tar",
            },
        )
    # The entry goes last: its presence means the model file and the archive are complete.
    s3.put_object(
        Bucket=bucket,
        Key=index_key(name, version),
        Body=json.dumps(asdict(entry), indent=2).encode(),
        ContentType="application/json",
    )
    return entry, True


def summary(entry: RegistryEntry, uploaded: bool) -> str:
    state = "published" if uploaded else "already published (left as is)"
    return (
        f"### Bento {entry.bento_tag} {state}\n\n"
        f"- archive: `{entry.uri}` ({entry.size_bytes:,} bytes, sha256 `{entry.sha256[:12]}`)\n"
        f"- models: {', '.join(f'`{m}`' for m in entry.models) or 'none'}\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bento", help="NAME:VERSION (default: reports/bento.json)")
    parser.add_argument("--bucket", help="artifacts bucket (default: $ARTIFACTS_BUCKET)")
    parser.add_argument(
        "--reference",
        type=Path,
        default=TRAIN_FILE,
        help="training rows for the drift check, uploaded when the file exists",
    )
    options = parser.parse_args(argv)
    try:
        entry, uploaded = publish(
            bento_tag(options.bento), artifacts_bucket(options.bucket), reference=options.reference
        )
    except ShipError as error:
        print(f"publish: {error}", file=sys.stderr)
        return 2
    report = summary(entry, uploaded)
    # The registry's `candidate` names what was published last (ml/release/aliases.py).
    try:
        candidate = mark_candidate(artifacts_bucket(options.bucket), entry.bento_tag)
    except (ShipError, ClientError) as error:
        print(f"publish: {error}", file=sys.stderr)
        return 2
    if candidate:
        before = f"`{candidate.previous}`" if candidate.previous else "nothing"
        report += f"- `{CANDIDATE}` moved to `{entry.version}` (it named {before})\n"
    emit(report)
    write_summary(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
