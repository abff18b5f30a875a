"""The retraining dispatch: the exact request GitHub's API gets, and clear failures."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from ml.core.identity import load_identity
from ml.monitoring import dispatch
from tests.support.http_recorder import recording_server
from tests.support.network import free_port

REPORT: dict[str, Any] = {
    "drift_detected": True,
    "drifted_features": ["mean radius", "worst area"],
    "features": {
        "mean radius": {"psi": 4.0348, "drifted": True},
        "worst area": {"psi": 2.51234, "drifted": True},
        "mean texture": {"psi": 0.05, "drifted": False},
    },
    "class_shift": {"detected": False, "psi": 0.001},
    "n_current": 143,
    "n_reference": 426,
    "current": "data/predictions",
    "generated_at": "2025-06-01T12:00:00+00:00",
}


@pytest.fixture(autouse=True)
def no_ambient_token(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*dispatch.TOKEN_ENVS, dispatch.TOKEN_FILE_ENV, dispatch.API_URL_ENV):
        monkeypatch.delenv(name, raising=False)


def test_request_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    with recording_server(status=204) as github:
        monkeypatch.setenv(dispatch.API_URL_ENV, github.url)
        monkeypatch.setenv("GITHUB_TOKEN", "ghs_test")
        message = dispatch.trigger_retraining(REPORT)
    repository = load_identity().repository
    assert repository in message
    (request,) = github.requests
    assert request.method == "POST"
    assert request.path == f"/repos/{repository}/dispatches"
    assert request.headers["Authorization"] == "Bearer ghs_test"
    assert request.headers["Accept"] == "application/vnd.github+json"
    assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
    body = json.loads(request.body)
    assert body == {
        "event_type": "drift-detected",
        "client_payload": {
            "drifted_features": ["mean radius", "worst area"],
            "feature_psi": {"mean radius": 4.0348, "worst area": 2.5123},
            "class_shift_detected": False,
            "n_current": 143,
            "n_reference": 426,
            "current": "data/predictions",
            "generated_at": "2025-06-01T12:00:00+00:00",
        },
    }
    assert len(body["client_payload"]) <= 10  # GitHub's limit on top-level payload keys


def test_dispatch_token_wins_over_github_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCH_TOKEN", "app-token")
    monkeypatch.setenv("GITHUB_TOKEN", "workflow-token")
    with recording_server() as github:
        dispatch.trigger_retraining(REPORT, api_url=github.url)
    assert github.requests[0].headers["Authorization"] == "Bearer app-token"


def test_the_token_is_read_from_the_file_its_variable_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The in-cluster job mounts its secret as a file: the token is in no environment variable.
    token_file = tmp_path / "token"
    token_file.write_text("file-token\n")
    monkeypatch.setenv(dispatch.TOKEN_FILE_ENV, str(token_file))
    monkeypatch.setenv("GITHUB_TOKEN", "workflow-token")
    with recording_server() as github:
        dispatch.trigger_retraining(REPORT, api_url=github.url)
    assert github.requests[0].headers["Authorization"] == "Bearer file-token"


def test_a_missing_token_file_means_no_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # No secret in the namespace (it is optional): the mount is empty and the command is printed.
    monkeypatch.setenv(dispatch.TOKEN_FILE_ENV, str(tmp_path / "token"))
    with recording_server() as github:
        message = dispatch.trigger_retraining(REPORT, api_url=github.url)
    assert github.requests == []
    assert message.startswith(f"no token ({dispatch.TOKEN_FILE_ENV}")
    assert "Authorization: Bearer <TOKEN>" in message


def test_an_unreadable_token_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(dispatch.TOKEN_FILE_ENV, str(tmp_path))  # a directory, not a file
    with pytest.raises(dispatch.DispatchError, match=f"{dispatch.TOKEN_FILE_ENV}: can't read"):
        dispatch.trigger_retraining(REPORT, api_url="http://127.0.0.1:1")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, "(401): the token is invalid or expired: Bad credentials"),
        (403, "(403): the token may not dispatch"),
        (404, "(404): repository acme"),
        (422, "(422): GitHub refused the request body: Invalid request"),
        (500, "(500): unexpected answer"),
    ],
)
def test_refusals_are_explained(status: int, expected: str) -> None:
    messages = {401: "Bad credentials", 422: "Invalid request"}
    answer = json.dumps({"message": messages.get(status, "")}).encode()
    with (
        recording_server(status=status, answer=answer) as github,
        pytest.raises(dispatch.DispatchError) as error,
    ):
        dispatch.trigger_retraining(REPORT, token="t", api_url=github.url, repository="acme/ml")
    assert expected in str(error.value)


def test_unreachable_api() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(dispatch.DispatchError, match=f"GitHub API at {url} unreachable"):
        dispatch.trigger_retraining(REPORT, token="t", api_url=url)


def test_without_token_the_command_is_printed() -> None:
    with recording_server() as github:
        message = dispatch.trigger_retraining(REPORT, api_url=github.url)
    assert github.requests == []
    command = message.split("\n", 1)[1]
    words = shlex.split(command.replace("\\\n", " "))
    assert words[:4] == ["curl", "-fsS", "-X", "POST"]
    assert "Authorization: Bearer <TOKEN>" in words
    assert f"{github.url}/repos/{load_identity().repository}/dispatches" in words
    body = json.loads(words[words.index("-d") + 1])
    assert body == dispatch.dispatch_body(REPORT)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "drift.json"
    report.write_text(json.dumps(REPORT))
    with recording_server(status=401) as github:
        code = dispatch.main(["--report", str(report)])  # no token: prints the command
        assert code == 0 and "curl" in capsys.readouterr().out
        assert github.requests == []

    with recording_server(status=404) as github, pytest.MonkeyPatch.context() as env:
        env.setenv("DISPATCH_TOKEN", "t")
        env.setenv(dispatch.API_URL_ENV, github.url)
        code = dispatch.main(["--report", str(report)])
    captured = capsys.readouterr()
    assert code == 1 and "(404)" in captured.err and "Traceback" not in captured.err

    report.write_text(json.dumps({**REPORT, "drift_detected": False}))
    assert dispatch.main(["--report", str(report)]) == 0
    assert "nothing to dispatch" in capsys.readouterr().out
    assert dispatch.main(["--report", str(tmp_path / "absent.json")]) == 2
