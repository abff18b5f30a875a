"""DVC's remotes: the local default works out of the box, S3 (moto) round-trips into a fresh
clone, and an unreachable remote fails loudly without touching local data: one nobody listens
on, and one that accepts connections but never answers (bounded by `make remote-s3`'s timeouts).
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.support.network import free_port
from tests.support.repo import (
    BIN,
    CACHED,
    UP_TO_DATE,
    PipelineRun,
    RepoCopy,
    clone_repo,
    fingerprints,
    tool_env,
)

BUCKET = "pipeline-data"
pytestmark = pytest.mark.slow


def _drop_local_data(repo: RepoCopy) -> None:
    for name in CACHED:
        (repo.root / name).unlink()
    shutil.rmtree(repo.root / ".dvc" / "cache")


def test_push_and_pull_with_the_default_local_remote(
    pipeline_run: PipelineRun, tmp_path: Path
) -> None:
    repo = clone_repo(pipeline_run.repo, tmp_path / "repo")
    before = fingerprints(repo, CACHED)

    repo.dvc("push")
    _drop_local_data(repo)
    repo.dvc("pull")

    assert fingerprints(repo, CACHED) == before
    assert (repo.root / ".dvc" / "storage" / "files" / "md5").is_dir()
    assert UP_TO_DATE in repo.dvc("status").stdout


def test_s3_remote_round_trip_into_a_fresh_clone(
    pipeline_run: PipelineRun, aws_env: str, tmp_path: Path
) -> None:
    boto3.client("s3", endpoint_url=aws_env).create_bucket(Bucket=BUCKET)
    pusher = clone_repo(pipeline_run.repo, tmp_path / "pusher")
    before = fingerprints(pusher, CACHED)

    # The Makefile's own target makes S3 the default remote (`-o setup`: the venv is ours).
    pusher.run(
        "make", "-o", "setup", "remote-s3", f"BIN={BIN}", f"BUCKET={BUCKET}", f"ENDPOINT={aws_env}"
    )
    pusher.dvc("push")
    pusher.commit("store data in S3")
    listed = boto3.client("s3", endpoint_url=aws_env).list_objects_v2(Bucket=BUCKET)
    assert len(listed["Contents"]) == len(CACHED)

    fresh = tmp_path / "fresh"
    pusher.run("git", "clone", "-q", pusher.root, fresh)
    clone = RepoCopy(fresh, tool_env(fresh))
    assert not (fresh / "models" / "model.joblib").exists()
    clone.dvc("pull")

    assert fingerprints(clone, CACHED) == before
    assert UP_TO_DATE in clone.dvc("status").stdout


def test_an_unreachable_remote_fails_and_keeps_local_data(
    pipeline_run: PipelineRun, aws_env: str, tmp_path: Path
) -> None:
    repo = clone_repo(pipeline_run.repo, tmp_path / "repo")
    repo.dvc("remote", "add", "--local", "offline", f"s3://{BUCKET}/dvc")
    repo.dvc(
        "remote", "modify", "--local", "offline", "endpointurl", f"http://127.0.0.1:{free_port()}"
    )
    before = fingerprints(repo, CACHED)
    no_retries = {"AWS_MAX_ATTEMPTS": "1"}

    pushed = repo.run(BIN / "dvc", "push", "-r", "offline", check=False, env=no_retries)
    pulled = repo.run(BIN / "dvc", "pull", "-r", "offline", check=False, env=no_retries)

    for result in (pushed, pulled):
        assert result.returncode != 0
        assert "Could not connect to the endpoint URL" in result.stderr
    assert fingerprints(repo, CACHED) == before
    assert UP_TO_DATE in repo.dvc("status").stdout


# A hang guard, not a timing assertion: without the timeouts a silent endpoint holds each of
# s3fs's 5 tries for botocore's 60 s default read timeout, past this.
HANG_GUARD_S = 120
# The silent endpoint's read timeout, set through `make remote-s3`'s knob: 5 tries of the
# shipped 10 s would spend most of a minute saying what 2 s says.
SILENT_READ_TIMEOUT_S = 2


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """An endpoint on 127.0.0.1 that accepts connections and never writes a byte."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


def _cache_fingerprint(repo: RepoCopy) -> str:
    digest = hashlib.sha256()
    for path in sorted((repo.root / ".dvc" / "cache").rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(repo.root)).encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.mark.parametrize("fault", ["dead port", "silent endpoint"])
def test_a_faulty_s3_endpoint_ends_push_with_an_error_and_keeps_local_data(
    fault: str,
    pipeline_run: PipelineRun,
    aws_env: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    knobs: list[str] = []
    if fault == "dead port":
        endpoint, expected, env = f"http://127.0.0.1:{free_port()}", "Could not connect", {}
    else:
        # One attempt per s3fs try (botocore's AWS_MAX_ATTEMPTS, what the README names).
        endpoint, env = request.getfixturevalue("silent_endpoint"), {"AWS_MAX_ATTEMPTS": "1"}
        expected = "Read timeout on endpoint URL"
        knobs = [f"S3_READ_TIMEOUT={SILENT_READ_TIMEOUT_S}"]
    repo = clone_repo(pipeline_run.repo, tmp_path / "repo")
    repo.run(
        "make",
        "-o",
        "setup",
        "remote-s3",
        f"BIN={BIN}",
        f"BUCKET={BUCKET}",
        f"ENDPOINT={endpoint}",
        *knobs,
    )
    timeouts = {
        key: value
        for key, _, value in (
            line.partition("=") for line in repo.dvc("config", "--list").stdout.split()
        )
        if key in ("remote.s3.connect_timeout", "remote.s3.read_timeout")
    }
    read_timeout = SILENT_READ_TIMEOUT_S if knobs else 10  # the Makefile's default, the README's
    assert timeouts == {
        "remote.s3.connect_timeout": "5",
        "remote.s3.read_timeout": f"{read_timeout}",
    }
    before = (fingerprints(repo, CACHED), _cache_fingerprint(repo))

    started = time.monotonic()
    pushed = subprocess.run(
        [str(BIN / "dvc"), "push"],
        cwd=repo.root,
        env=repo.env | env,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
        check=False,
    )
    print(f"{fault}: dvc push exited {pushed.returncode} in {time.monotonic() - started:.1f} s")

    assert pushed.returncode != 0
    assert expected in pushed.stderr
    assert endpoint in pushed.stderr
    assert (fingerprints(repo, CACHED), _cache_fingerprint(repo)) == before
    assert UP_TO_DATE in repo.dvc("status").stdout
