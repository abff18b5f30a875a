"""The monitoring loop, end to end on this machine: the packaged bento serves and logs what it
answers, `make drift` (python -m ml.monitoring.drift) judges those logs against the training
rows, and on drift the retraining dispatch follows (to a local stand-in for GitHub's API), or
without a token the command to send it is printed."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from ml.core.features import FEATURE_NAMES
from ml.core.identity import load_identity
from ml.core.paths import REPO_ROOT
from ml.core.prediction_log_layout import SAMPLE_RATE_ENV, URL_ENV
from ml.monitoring import drift
from ml.monitoring.dispatch import EVENT_TYPE, TOKEN_ENVS, TOKEN_FILE_ENV
from ml.serving.local import running, serve_command
from tests.support.http_recorder import recording_server
from tests.support.network import free_port
from tests.support.packaging import Inputs, run_package, write_inputs

pytestmark = pytest.mark.slow

SHIFTED = ["mean radius", "worst area"]
ROWS = 300
ROWS_PER_REQUEST = 10


@dataclass(frozen=True)
class Bento:
    tag: str
    inputs: Inputs

    @property
    def reference(self) -> Path:
        """The rows the bento's model was trained on (features and target)."""
        return self.inputs.root / "breast_cancer.csv"


@pytest.fixture(scope="module")
def bento(tmp_path_factory: pytest.TempPathFactory) -> Bento:
    inputs = write_inputs(tmp_path_factory.mktemp("loop"))
    return Bento(run_package(inputs, inputs.root / "reports")["bento"], inputs)


def traffic(bento: Bento, shift: bool) -> pd.DataFrame:
    """ROWS rows drawn from the training rows; the SHIFTED features 1.5 times larger if `shift`."""
    rows = pd.read_csv(bento.reference)[list(FEATURE_NAMES)].sample(
        ROWS, replace=True, random_state=3
    )
    if shift:
        rows[SHIFTED] *= 1.5
    return rows


def serve_and_send(bento: Bento, rows: pd.DataFrame, logs: Path) -> list[dict[str, Any]]:
    """Serve the bento logging to `logs`, send `rows` from concurrent clients, stop the server
    (its shutdown writes what is queued); the answers, in order."""
    port = free_port()
    env = {
        "BENTOML_HOME": str(bento.inputs.bentoml_home),
        "BENTOML_DO_NOT_TRACK": "1",
        URL_ENV: f"file://{logs}",
        SAMPLE_RATE_ENV: "1",
    }
    records = rows.to_dict("records")
    bodies = [
        json.dumps({"rows": records[start : start + ROWS_PER_REQUEST]}).encode()
        for start in range(0, len(records), ROWS_PER_REQUEST)
    ]
    with running(serve_command(bento.tag, port), port, env) as url, httpx.Client() as client:

        def send(body: bytes) -> list[dict[str, Any]]:
            answer = client.post(f"{url}/predict", content=body, timeout=30)
            assert answer.status_code == 200, answer.text
            return answer.json()

        # Concurrent requests: adaptive batching merges them into shared model calls.
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = [item for answer in pool.map(send, bodies) for item in answer]
    return answers


def logged(logs: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for file in sorted(logs.rglob("*.jsonl"))
        for line in file.read_text(encoding="utf-8").splitlines()
    ]


def run_drift(
    bento: Bento, logs: Path, out: Path, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """What `make drift CURRENT=<logs> DISPATCH=1` runs, with this test's reference and model."""
    command = [sys.executable, "-m", "ml.monitoring.drift", "--current", str(logs)]
    command += ["--reference", str(bento.reference), "--model", str(bento.inputs.model)]
    command += ["--out", str(out), "--dispatch"]
    tokens = (*TOKEN_ENVS, TOKEN_FILE_ENV)
    quiet = {key: value for key, value in bento.inputs.env.items() if key not in tokens}
    result = subprocess.run(
        command, cwd=REPO_ROOT, env=quiet | env, capture_output=True, text=True, check=False
    )
    assert result.returncode == drift.EXIT_OK, result.stdout + result.stderr
    return result, json.loads((out / drift.REPORT_JSON).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def shifted_logs(bento: Bento, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    logs = tmp_path_factory.mktemp("shifted-logs")
    rows = traffic(bento, shift=True)
    answers = serve_and_send(bento, rows, logs)
    records = logged(logs)
    # Every answered row is logged once, with the bento that answered it.
    assert len(records) == len(answers) == ROWS
    assert {record["bento_tag"] for record in records} == {bento.tag}
    logged_rows = sorted(tuple(record["features"][name] for name in SHIFTED) for record in records)
    assert logged_rows == sorted(map(tuple, rows[SHIFTED].to_numpy().tolist()))
    yield logs


def test_shifted_traffic_is_flagged_and_retraining_dispatched(
    bento: Bento, shifted_logs: Path, tmp_path: Path
) -> None:
    with recording_server() as github:
        env = {"GITHUB_API_URL": github.url, "DISPATCH_TOKEN": "test-token"}
        result, report = run_drift(bento, shifted_logs, tmp_path, env)
    assert report["drift_detected"] is True
    assert report["drifted_features"] == SHIFTED
    assert report["n_current"] == ROWS
    assert report["class_shift"]["current_basis"] == "served model"
    (request,) = github.requests
    assert request.method == "POST"
    assert request.path == f"/repos/{load_identity().repository}/dispatches"
    assert request.headers["Authorization"] == "Bearer test-token"
    body = json.loads(request.body)
    assert body["event_type"] == EVENT_TYPE
    assert body["client_payload"]["drifted_features"] == SHIFTED
    assert "retraining requested" in result.stdout


def test_without_a_token_the_dispatch_command_is_printed(
    bento: Bento, shifted_logs: Path, tmp_path: Path
) -> None:
    result, report = run_drift(bento, shifted_logs, tmp_path, {})
    assert report["drifted_features"] == SHIFTED
    repository = load_identity().repository
    assert f"no token ({TOKEN_FILE_ENV}'s file, {' or '.join(TOKEN_ENVS)})" in result.stdout
    assert "curl -fsS -X POST" in result.stdout
    assert f"/repos/{repository}/dispatches" in result.stdout


def test_unshifted_traffic_is_not_flagged(bento: Bento, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    serve_and_send(bento, traffic(bento, shift=False), logs)
    with recording_server() as github:
        env = {"GITHUB_API_URL": github.url, "DISPATCH_TOKEN": "test-token"}
        _, report = run_drift(bento, logs, tmp_path / "out", env)
    assert report["n_current"] == ROWS
    assert report["drift_detected"] is False
    assert report["drifted_features"] == []
    assert report["class_shift"]["detected"] is False
    assert github.requests == []
