"""Registry aliases against moto's S3 server: conditional moves, their history, lost races."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from ml.core.artifacts import ShipError, alias_history_prefix, alias_key
from ml.core.paths import REPO_ROOT
from ml.release import aliases
from ml.release.aliases import AliasConflictError, AliasState

MODEL = "breast-cancer-classifier"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/m/bentos@sha256:" + "d" * 64


@pytest.fixture
def bucket(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket, and a GitHub Actions run the moves are made from."""
    name = f"artifacts-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=name)
    for key, value in {
        "GITHUB_ACTOR": "octocat",
        "GITHUB_SHA": "3f2a9c1" + "0" * 33,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/model",
        "GITHUB_RUN_ID": "7",
    }.items():
        monkeypatch.setenv(key, value)
    return name


def _move(bucket: str, version: str, state: AliasState | None = None, **fields: str) -> AliasState:
    state = state or aliases.read_alias(bucket, MODEL, "production")
    record = aliases.new_record(state, f"{MODEL}:{version}", image=IMAGE, reason="test", **fields)
    return aliases.move_alias(bucket, state, record)


def test_a_first_move_records_who_when_where_from_and_leaves_history(bucket: str) -> None:
    before = aliases.read_alias(bucket, MODEL, "production")
    assert (before.record, before.etag) == (None, None)

    moved = _move(bucket, "v1", before, rollout_record="rollouts/prod/x-v1.json")

    body = boto3.client("s3").get_object(Bucket=bucket, Key=alias_key(MODEL, "production"))
    stored = json.loads(body["Body"].read())
    assert stored == {
        "alias": "production",
        "model": MODEL,
        "version": "v1",
        "bento": f"{MODEL}:v1",
        "image": IMAGE,
        "commit": "3f2a9c1" + "0" * 33,
        "run_url": "https://github.com/acme/model/actions/runs/7",
        "moved_at": stored["moved_at"],
        "moved_by": "octocat",
        "reason": "test",
        "rollout_record": "rollouts/prod/x-v1.json",
        "previous": None,
    }
    assert datetime.fromisoformat(stored["moved_at"]).utcoffset() is not None
    assert moved.etag == body["ETag"]
    assert aliases.read_alias(bucket, MODEL, "production") == moved
    assert aliases.read_history(bucket, MODEL, "production") == [moved.record]


def test_a_second_move_names_the_previous_version_and_history_is_in_order(bucket: str) -> None:
    first = _move(bucket, "v1")
    second = _move(bucket, "v2")
    third = _move(bucket, "v3")

    assert second.record and second.record.previous == "v1"
    assert third.record and third.record.previous == "v2"
    history = aliases.read_history(bucket, MODEL, "production")
    assert history == [first.record, second.record, third.record]
    keys = boto3.client("s3").list_objects_v2(
        Bucket=bucket, Prefix=alias_history_prefix(MODEL, "production")
    )["Contents"]
    assert [k["Key"].rsplit("-", 1)[1] for k in keys] == ["v1.json", "v2.json", "v3.json"]


def test_of_two_movers_that_read_the_same_etag_one_wins_the_other_is_told_who(
    bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _move(bucket, "v1")
    alice = aliases.read_alias(bucket, MODEL, "production")
    bob = aliases.read_alias(bucket, MODEL, "production")
    assert alice.etag == bob.etag

    monkeypatch.setenv("GITHUB_ACTOR", "alice")
    won = _move(bucket, "v2", alice)
    monkeypatch.setenv("GITHUB_ACTOR", "bob")
    with pytest.raises(AliasConflictError) as lost:
        _move(bucket, "v3", bob)

    message = str(lost.value)
    assert f"production of {MODEL} in s3://{bucket} was moved since it was read" in message
    assert "(it named v1): it names v2 (moved by alice at" in message
    assert "This move to v3 did not happen" in message
    # Nothing of the losing move is left: the alias and its history are the winner's.
    assert aliases.read_alias(bucket, MODEL, "production") == won
    assert [r.version for r in aliases.read_history(bucket, MODEL, "production")] == ["v1", "v2"]


def test_two_first_moves_cannot_both_create_the_alias(bucket: str) -> None:
    empty = aliases.read_alias(bucket, MODEL, "staging")
    state = aliases.read_alias(bucket, MODEL, "staging")
    record = aliases.new_record(state, f"{MODEL}:v1", image=None, reason="first")
    aliases.move_alias(bucket, state, record)
    other = aliases.new_record(empty, f"{MODEL}:v9", image=None, reason="also first")
    with pytest.raises(AliasConflictError, match=r"it named nothing\): it names v1"):
        aliases.move_alias(bucket, empty, other)


def test_a_conflicting_conditional_write_in_flight_is_a_lost_race_too(bucket: str) -> None:
    """S3 answers 409 ConditionalRequestConflict while another conditional write is under way."""
    winner = _move(bucket, "v1")
    s3 = boto3.client("s3")
    stub = Stubber(s3)
    stub.add_client_error("put_object", "ConditionalRequestConflict", http_status_code=409)
    assert winner.record
    stub.add_response(
        "get_object",
        {"Body": _Body(winner.record.to_json()), "ETag": winner.etag},
        {"Bucket": bucket, "Key": alias_key(MODEL, "production")},
    )
    record = aliases.new_record(winner, f"{MODEL}:v2", image=IMAGE, reason="test")
    with stub, pytest.raises(AliasConflictError, match=r"it names v1 .*did not happen"):
        aliases.move_alias(bucket, winner, record, s3)


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self) -> bytes:
        return self.data


def test_moving_to_the_version_named_already_keeps_the_previous_one(bucket: str) -> None:
    _move(bucket, "v1")
    _move(bucket, "v2")
    rerun = _move(bucket, "v2")
    assert rerun.record and rerun.record.previous == "v1"


def test_a_bento_of_another_model_is_refused(bucket: str) -> None:
    state = aliases.read_alias(bucket, MODEL, "production")
    with pytest.raises(ShipError, match=f"other:v1 is not a version of {MODEL}"):
        aliases.new_record(state, "other:v1", image=None, reason="test")
    with pytest.raises(ShipError, match="unknown alias 'champion'"):
        aliases.read_alias(bucket, MODEL, "champion")


def test_the_candidate_moves_once_per_published_version(bucket: str) -> None:
    first = aliases.mark_candidate(bucket, f"{MODEL}:v1")
    assert first and (first.alias, first.version, first.image, first.previous) == (
        "candidate",
        "v1",
        None,
        None,
    )
    assert aliases.mark_candidate(bucket, f"{MODEL}:v1") is None  # a rerun of the deploy
    second = aliases.mark_candidate(bucket, f"{MODEL}:v2")
    assert second and second.previous == "v1"
    assert len(aliases.read_history(bucket, MODEL, "candidate")) == 2


def test_each_stack_moves_the_stage_of_its_environment(tmp_path: Path) -> None:
    assert aliases.stack_alias("dev") == "staging"
    assert aliases.stack_alias("prod") == "production"
    (tmp_path / "Pulumi.yaml").write_text((REPO_ROOT / "Pulumi.yaml").read_text())
    project = aliases.load_mapping(REPO_ROOT / "Pulumi.yaml")["name"]
    (tmp_path / "Pulumi.qa.yaml").write_text(f"config:\n  {project}:environment: qa\n")
    assert aliases.stack_alias("qa", tmp_path) is None
    with pytest.raises(ShipError, match=r"stack qa: .*no registry stage \(dev -> staging"):
        aliases.required_stack_alias("qa", tmp_path)
    with pytest.raises(ShipError, match=r"Pulumi\.nope\.yaml: cannot read"):
        aliases.stack_alias("nope", tmp_path)


def test_a_rollout_moves_the_stacks_stage_naming_its_record(bucket: str) -> None:
    moved = aliases.mark_rollout(bucket, "dev", f"{MODEL}:v1", IMAGE, "rollouts/dev/t-v1.json")
    assert moved and (moved.alias, moved.image, moved.rollout_record) == (
        "staging",
        IMAGE,
        "rollouts/dev/t-v1.json",
    )
    assert aliases.read_alias(bucket, MODEL, "staging").record == moved
