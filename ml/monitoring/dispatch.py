"""Closing the loop: a drift verdict starts the retraining workflow through GitHub's API.

    python -m ml.monitoring.dispatch [--report reports/drift.json]
    (or: python -m ml.monitoring.drift ... --dispatch)

Sends a `repository_dispatch` event of type `drift-detected` to the project's repository
(ml/core/identity.py); .github/workflows/retrain.yml runs on it. The token comes from the file
DISPATCH_TOKEN_FILE names (the in-cluster job mounts its Kubernetes secret there, so the token is
in no environment variable), else DISPATCH_TOKEN, else GITHUB_TOKEN, and needs `contents: write`
on the repository (a workflow's GITHUB_TOKEN with that permission, or a fine-grained token /
GitHub App token as a Kubernetes secret). Without a token (a named file that does not exist
counts as none) the exact `curl` command is printed instead. GITHUB_API_URL (set by GitHub
Actions, e.g. on GitHub Enterprise Server) overrides the API address.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ml.core.identity import load_identity
from ml.core.paths import REPORTS_DIR

EVENT_TYPE = "drift-detected"
API_VERSION = "2022-11-28"
DEFAULT_API_URL = "https://api.github.com"
API_URL_ENV = "GITHUB_API_URL"
TOKEN_ENVS = ("DISPATCH_TOKEN", "GITHUB_TOKEN")
TOKEN_FILE_ENV = "DISPATCH_TOKEN_FILE"  # noqa: S105 - a variable naming a file
TOKEN_PLACEHOLDER = "<TOKEN>"  # noqa: S105 - printed for a person to replace


class DispatchError(RuntimeError):
    """The dispatch did not reach GitHub or GitHub refused it; the message says why."""


def dispatch_body(report: Mapping[str, Any]) -> dict[str, Any]:
    """The request body: what the retraining run gets as `github.event.client_payload`.

    GitHub allows at most 10 top-level payload keys and 64 KB, so only a summary travels.
    """
    drifted = list(report["drifted_features"])
    classes = report["class_shift"]
    return {
        "event_type": EVENT_TYPE,
        "client_payload": {
            "drifted_features": drifted,
            "feature_psi": {name: round(report["features"][name]["psi"], 4) for name in drifted},
            "class_shift_detected": bool(classes.get("detected", False)),
            "n_current": report["n_current"],
            "n_reference": report["n_reference"],
            "current": report["current"],
            "generated_at": report["generated_at"],
        },
    }


def _headers(token: str) -> dict[str, str]:
    return {
        "Accept": "application/vnd.github+json",
        "Authorization": f"Bearer {token}",
        "X-GitHub-Api-Version": API_VERSION,
        "Content-Type": "application/json",
    }


def _endpoint(api_url: str, repository: str) -> str:
    if urlparse(api_url).scheme not in ("http", "https"):
        raise DispatchError(f"{API_URL_ENV}: expected an http(s) URL, got {api_url!r}")
    return f"{api_url.rstrip('/')}/repos/{repository}/dispatches"


def curl_command(body: Mapping[str, Any], api_url: str, repository: str) -> str:
    """The same request as a shell command; the token is the only thing left to fill in."""
    headers = [
        f"-H {shlex.quote(f'{key}: {value}')}" for key, value in _headers(TOKEN_PLACEHOLDER).items()
    ]
    return " \\\n  ".join(
        [
            "curl -fsS -X POST",
            *headers,
            shlex.quote(_endpoint(api_url, repository)),
            f"-d {shlex.quote(json.dumps(body, separators=(',', ':')))}",
        ]
    )


def ambient_token() -> str | None:
    """The token of DISPATCH_TOKEN_FILE's file, else of DISPATCH_TOKEN or GITHUB_TOKEN; None when
    there is none (the job's secret is optional: no secret, no file)."""
    path = os.environ.get(TOKEN_FILE_ENV)
    if path:
        try:
            token = Path(path).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            token = ""
        except (OSError, UnicodeDecodeError) as error:
            raise DispatchError(f"{TOKEN_FILE_ENV}: can't read {path}: {error}") from None
        if token:
            return token
    return next((os.environ[name] for name in TOKEN_ENVS if os.environ.get(name)), None)


def _refusal(status: int, detail: str, repository: str) -> str:
    reasons = {
        401: "the token is invalid or expired",
        403: f"the token may not dispatch to {repository} (it needs contents: write)",
        404: f"repository {repository} not found, or the token can't see it",
        422: "GitHub refused the request body",
    }
    reason = reasons.get(status, "unexpected answer")
    return f"dispatch refused by GitHub ({status}): {reason}" + (f": {detail}" if detail else "")


def trigger_retraining(
    report: Mapping[str, Any],
    *,
    token: str | None = None,
    api_url: str | None = None,
    repository: str | None = None,
    timeout: float = 10.0,
) -> str:
    """Send the `drift-detected` event; returns what happened, raises DispatchError on failure."""
    repository = repository or load_identity().repository
    api_url = api_url or os.environ.get(API_URL_ENV) or DEFAULT_API_URL
    token = token or ambient_token()
    body = dispatch_body(report)
    if not token:
        return (
            f"no token ({TOKEN_FILE_ENV}'s file, {' or '.join(TOKEN_ENVS)}): to start "
            "retraining, run with a token that has "
            f"contents: write on {repository}:\n" + curl_command(body, api_url, repository)
        )
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked in _endpoint
        _endpoint(api_url, repository),
        data=json.dumps(body).encode(),
        headers=_headers(token),
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as error:
        try:
            detail = str(json.loads(error.read() or b"{}").get("message", ""))
        except ValueError:
            detail = ""
        raise DispatchError(_refusal(error.code, detail, repository)) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DispatchError(f"GitHub API at {api_url} unreachable: {reason}") from None
    if status != 204:  # GitHub answers 204 No Content when the event is created
        raise DispatchError(_refusal(status, "", repository))
    return f"retraining requested: '{EVENT_TYPE}' dispatched to {repository}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ml.monitoring.dispatch",
        description="Trigger retraining from a drift report.",
    )
    parser.add_argument("--report", type=Path, default=REPORTS_DIR / "drift.json")
    args = parser.parse_args(argv)
    try:
        report = json.loads(args.report.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"dispatch: can't read {args.report}: {error}", file=sys.stderr)
        return 2
    if not isinstance(report, dict) or "drift_detected" not in report:
        print(
            f"dispatch: {args.report} is not a drift report (python -m ml.monitoring.drift)",
            file=sys.stderr,
        )
        return 2
    if not report["drift_detected"]:
        print(f"dispatch: {args.report} reports no drift; nothing to dispatch")
        return 0
    try:
        print(trigger_retraining(report))
    except KeyError as error:
        print(f"dispatch: {args.report} lacks the key {error}", file=sys.stderr)
        return 2
    except DispatchError as error:
        print(f"dispatch: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
