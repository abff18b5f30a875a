"""`make ci-repro`: which dvc commands run, given the remote and the credentials found."""

from __future__ import annotations

import pytest

from ml.ci import repro
from ml.ci.repro import Remote
from ml.core.identity import load_identity

S3 = Remote("s3", f"s3://{load_identity().project}-dev-dvc-123456789012/dvc")
LOCAL = Remote("local", "storage")


def _args(commands: list[list[str]]) -> list[list[str]]:
    return [command[1:] for command in commands]


def test_s3_remote_with_credentials_pulls_and_pushes() -> None:
    commands = repro.plan(S3, credentials=True, refresh=False, push=True)
    assert _args(commands) == [["repro", "--pull"], ["push"]]
    assert "pulling from and reusing DVC remote s3" in repro.explain(S3, True, True)


@pytest.mark.parametrize(("remote", "credentials"), [(S3, False), (LOCAL, True), (None, True)])
def test_without_a_reachable_s3_remote_the_pipeline_runs_here(
    remote: Remote | None, credentials: bool
) -> None:
    assert _args(repro.plan(remote, credentials, refresh=False, push=True)) == [["repro"]]


def test_missing_credentials_are_explained_as_a_fork_would_see_it() -> None:
    message = repro.explain(S3, credentials=False, push=True)
    assert "no AWS credentials" in message
    assert "nothing is pushed" in message


def test_refresh_forces_the_ingest_stage_first() -> None:
    commands = repro.plan(S3, credentials=True, refresh=True, push=False)
    assert _args(commands) == [
        ["repro", "--force", "--single-item", "ingest"],
        ["repro", "--pull"],
    ]


def test_the_ingest_stage_exists() -> None:
    import yaml

    from ml.core.paths import REPO_ROOT

    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    assert repro.INGEST_STAGE in stages


def test_the_repository_default_remote_is_read_from_dvc() -> None:
    remote = repro.default_remote()
    assert remote is not None
    assert remote.name and remote.url
