"""Registry stages: which version of a model is the candidate, in staging and in production.

Each alias is one JSON object in the stack's artifacts bucket, `aliases/<model>/<alias>.json`
(ml/core/artifacts.py `alias_key`): the version it names, the bento and image, who moved it, when,
from which commit and run, why, the rollout record of the move, and the version it named before.
`candidate` is what `make publish` last published to the registry; each stack moves its own
stage once a rollout there succeeds: `staging` for dev, `production` for prod (STACK_ALIASES, by
the stack's `environment` setting).

A move is one conditional PutObject: `If-None-Match: *` for an alias's first move, `If-Match:
<the ETag read>` after that. S3 refuses the write (412 PreconditionFailed, or 409
ConditionalRequestConflict while another conditional write to the key is in flight) once anyone
moved the alias since it was read, so of two concurrent moves exactly one wins; the other's error
names the version that won and who moved it, and changes nothing. Each move then leaves a copy of
its record under `aliases/<model>/<alias>/history/`, keyed by the move's time, so listing the
prefix gives the moves oldest first.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from ml.core.artifacts import (
    ALIASES,
    ShipError,
    alias_history_prefix,
    alias_key,
    run_url,
    split_tag,
)
from ml.core.paths import REPO_ROOT
from ml.core.s3 import error_code, is_missing_key
from ml.core.yaml_file import ConfigFileError, load_mapping, mapping_at

CANDIDATE = "candidate"
# The stage a stack's rollouts move, by the stack's `environment` (Pulumi.<stack>.yaml).
STACK_ALIASES = {"dev": "staging", "prod": "production"}
# S3's answers to a conditional write that lost: the ETag changed, or another one is under way;
# NoSuchKey when the alias read was deleted since.
_LOST = {"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"}


@dataclass(frozen=True)
class AliasRecord:
    """One move of an alias: the object at alias_key, and its copy in the history."""

    alias: str
    model: str
    version: str
    bento: str
    image: str | None
    commit: str | None
    run_url: str | None
    moved_at: str
    moved_by: str | None
    reason: str
    rollout_record: str | None
    previous: str | None

    @classmethod
    def from_json(cls, body: bytes) -> AliasRecord:
        data = json.loads(body)
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    def describe(self) -> str:
        by = self.moved_by or "someone"
        return f"{self.version} (moved by {by} at {self.moved_at}: {self.reason})"


@dataclass(frozen=True)
class AliasState:
    """An alias as read: its record (None before its first move) and the ETag to match."""

    model: str
    alias: str
    record: AliasRecord | None
    etag: str | None

    @property
    def version(self) -> str | None:
        return self.record.version if self.record else None


class AliasConflictError(ShipError):
    """Someone else moved the alias between this process's read and its write."""


def stack_alias(stack: str, root: Path = REPO_ROOT) -> str | None:
    """The alias the stack's rollouts move (by its environment), None for another environment."""
    path = root / f"Pulumi.{stack}.yaml"
    try:
        project = load_mapping(root / "Pulumi.yaml").get("name")
        config = mapping_at(path, load_mapping(path), "config")
    except ConfigFileError as error:
        raise ShipError(str(error)) from None
    return STACK_ALIASES.get(str(config.get(f"{project}:environment") or ""))


def required_stack_alias(stack: str, root: Path = REPO_ROOT) -> str:
    alias = stack_alias(stack, root)
    if alias is None:
        known = ", ".join(f"{env} -> {name}" for env, name in STACK_ALIASES.items())
        raise ShipError(f"stack {stack}: its environment has no registry stage ({known})")
    return alias


def mover() -> str | None:
    """Who moves: the GitHub actor in Actions, else the local user."""
    return os.environ.get("GITHUB_ACTOR") or os.environ.get("USER") or None


def current_commit(root: Path = REPO_ROOT) -> str | None:
    """The commit the move is made from: GITHUB_SHA in Actions, else the checkout's HEAD."""
    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    return result.stdout.strip() or None


def read_alias(bucket: str, model: str, alias: str, s3: Any = None) -> AliasState:
    if alias not in ALIASES:
        raise ShipError(f"unknown alias {alias!r} (aliases: {', '.join(ALIASES)})")
    s3 = s3 or boto3.client("s3")
    try:
        response = s3.get_object(Bucket=bucket, Key=alias_key(model, alias))
    except ClientError as error:
        if is_missing_key(error):
            return AliasState(model, alias, None, None)
        raise ShipError(f"cannot read {alias} of {model} in s3://{bucket}: {error}") from None
    record = AliasRecord.from_json(response["Body"].read())
    return AliasState(model, alias, record, response["ETag"])


def new_record(
    state: AliasState,
    bento: str,
    *,
    image: str | None,
    reason: str,
    rollout_record: str | None = None,
) -> AliasRecord:
    """The record of moving the alias to `bento`, made here and now. A move to the version the
    alias names already (a rerun) keeps what it named before, so a rollback still has it."""
    model, version = split_tag(bento)
    if model != state.model:
        raise ShipError(f"bento {bento} is not a version of {state.model}")
    current = state.record
    previous = current.previous if current and current.version == version else state.version
    return AliasRecord(
        alias=state.alias,
        model=model,
        version=version,
        bento=bento,
        image=image,
        commit=current_commit(),
        run_url=run_url(),
        moved_at=datetime.now(UTC).isoformat(),
        moved_by=mover(),
        reason=reason,
        rollout_record=rollout_record,
        previous=previous,
    )


def restored(record: AliasRecord, reason: str) -> AliasRecord:
    """`record` as it was (version, image, previous, rollout record), moved back here and now."""
    return replace(
        record,
        commit=current_commit(),
        run_url=run_url(),
        moved_at=datetime.now(UTC).isoformat(),
        moved_by=mover(),
        reason=reason,
    )


def history_key(record: AliasRecord) -> str:
    # Fixed-width UTC time first: the keys sort in the order of the moves.
    at = datetime.fromisoformat(record.moved_at).astimezone(UTC)
    stamp = at.strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{alias_history_prefix(record.model, record.alias)}{stamp}-{record.version}.json"


def move_alias(bucket: str, state: AliasState, record: AliasRecord, s3: Any = None) -> AliasState:
    """Write `record` as the alias if nobody moved it since `state` was read; then its history."""
    s3 = s3 or boto3.client("s3")
    condition = {"IfMatch": state.etag} if state.etag else {"IfNoneMatch": "*"}
    try:
        response = s3.put_object(
            Bucket=bucket,
            Key=alias_key(record.model, record.alias),
            Body=record.to_json(),
            ContentType="application/json",
            **condition,
        )
    except ClientError as error:
        if error_code(error) in _LOST:
            raise _conflict(bucket, state, record, s3) from None
        raise ShipError(f"cannot move {record.alias} in s3://{bucket}: {error}") from None
    s3.put_object(
        Bucket=bucket,
        Key=history_key(record),
        Body=record.to_json(),
        ContentType="application/json",
        IfNoneMatch="*",
    )
    return AliasState(state.model, state.alias, record, response["ETag"])


def _conflict(bucket: str, state: AliasState, record: AliasRecord, s3: Any) -> AliasConflictError:
    now = read_alias(bucket, state.model, state.alias, s3).record
    won = now.describe() if now else "nothing (it was deleted)"
    return AliasConflictError(
        f"{state.alias} of {state.model} in s3://{bucket} was moved since it was read "
        f"(it named {state.version or 'nothing'}): it names {won}. "
        f"This move to {record.version} did not happen; read it again and retry if still wanted"
    )


def read_history(bucket: str, model: str, alias: str, s3: Any = None) -> list[AliasRecord]:
    """Every move of the alias, oldest first."""
    s3 = s3 or boto3.client("s3")
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=alias_history_prefix(model, alias)
    ):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return [
        AliasRecord.from_json(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        for key in sorted(keys)
    ]


def image_of(records: Iterable[AliasRecord], version: str) -> str | None:
    """The image the newest of `records` that names `version` with an image recorded."""
    found = [r.image for r in records if r.version == version and r.image]
    return found[-1] if found else None


def mark_candidate(bucket: str, bento: str, s3: Any = None) -> AliasRecord | None:
    """Move `candidate` to a bento just published; None when it names that version already."""
    model, version = split_tag(bento)
    state = read_alias(bucket, model, CANDIDATE, s3)
    if state.version == version:
        return None
    record = new_record(state, bento, image=None, reason="published to the registry")
    return move_alias(bucket, state, record, s3).record


def mark_rollout(
    bucket: str, stack: str, bento: str, image: str, rollout_record: str, s3: Any = None
) -> AliasRecord | None:
    """Move the stack's stage to what its rollout just shipped (None for a stack without one)."""
    alias = stack_alias(stack)
    if alias is None:
        return None
    model, _ = split_tag(bento)
    state = read_alias(bucket, model, alias, s3)
    record = new_record(
        state, bento, image=image, reason=f"rolled out to {stack}", rollout_record=rollout_record
    )
    return move_alias(bucket, state, record, s3).record


def to_markdown(record: AliasRecord) -> str:
    rows = [
        ("version", f"`{record.version}` (bento `{record.bento}`)"),
        ("image", f"`{record.image}`" if record.image else "not recorded"),
        ("previous", f"`{record.previous}`" if record.previous else "none"),
        ("moved by", f"{record.moved_by or 'unknown'} at {record.moved_at}"),
        ("commit", f"`{record.commit}`" if record.commit else "unknown"),
        ("reason", record.reason),
    ]
    if record.rollout_record:
        rows.append(("rollout record", f"`{record.rollout_record}`"))
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    return f"### Alias {record.alias} of {record.model}\n\n| | |\n| --- | --- |\n{table}\n"
