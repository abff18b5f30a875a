"""Fixtures shared by every test folder: a real S3 API from moto's server on 127.0.0.1, and the
whole DVC pipeline reproduced once in a fresh copy of the repository."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.network import free_port
from tests.support.repo import PipelineRun, new_repo


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server (S3, KMS, Budgets, STS, ...) on a free loopback port, for the session."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 and DVC's S3 client at moto with throwaway credentials; returns the endpoint."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_endpoint,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_endpoint


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory: pytest.TempPathFactory) -> PipelineRun:
    """The whole DVC pipeline reproduced once in a fresh copy, its results committed.

    Tests that change the copy work on `clone_repo(pipeline_run.repo, ...)` instead.
    """
    repo = new_repo(tmp_path_factory.mktemp("pipeline") / "repo")
    result = repo.dvc("repro")
    repo.commit("pipeline results")
    return PipelineRun(repo, result.stdout + result.stderr)
