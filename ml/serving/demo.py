"""`make run`, after `dvc repro`: serve the packaged bento, query it, show what came back.

Starts the bento reports/bento.json names with `bentoml serve` on a free 127.0.0.1 port, waits for
/readyz, sends ml/serving/sample_request.json and one malformed body, prints both answers, the test
metrics and the bento tag, and stops the service (also on an error or Ctrl-C). The answered rows go
to the prediction log, data/predictions/ unless PREDICTION_LOG_URL says otherwise.

A fresh clone whose pipeline outputs are up to date has no bento in its BentoML store yet (the
store is not versioned): the demo then rebuilds it with the package stage, which gives the same
tag for the same inputs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from ml.core.params import load_params
from ml.core.paths import METRICS_FILE, REPO_ROOT, SAMPLE_REQUEST
from ml.core.prediction_log_layout import URL_ENV
from ml.serving.local import (
    NoBentoError,
    ServerStartError,
    in_store,
    latest_bento,
    prediction_log_env,
    recorded_bento,
    running_bento,
    venv_env,
)


def malformed_body(sample: dict) -> tuple[str, bytes]:
    """The sample's first row with a feature spelled as text and another one missing."""
    row = dict(sample["rows"][0])
    row["mean radius"] = "seventeen"
    del row["worst symmetry"]
    why = 'row 0: "mean radius" is text, "worst symmetry" is missing'
    return why, json.dumps({"rows": [row]}).encode("utf-8")


def post(url: str, body: bytes) -> tuple[int, object]:
    request = urllib.request.Request(  # noqa: S310 - a loopback URL we built
        f"{url}/predict", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def compact(body: object) -> list[str]:
    """JSON over a few lines: one line per list item, one per key of an object."""
    if isinstance(body, list):
        return [json.dumps(item) for item in body]
    if isinstance(body, dict):
        lines = []
        for key, value in body.items():
            if isinstance(value, list):
                lines += [f"{json.dumps(key)}:", *(f"  {json.dumps(item)}" for item in value)]
            else:
                lines.append(f"{json.dumps(key)}: {json.dumps(value)}")
        return lines
    return [json.dumps(body)]


def show(title: str, status: int, body: object) -> None:
    print(f"\n{title}\n  -> HTTP {status}")
    for line in compact(body):
        print(f"     {line}")


def ensure_bento() -> str:
    """The recorded bento, rebuilt by the package stage when this machine's store lacks it."""
    tag = recorded_bento()
    if not in_store(tag):
        print(f"bento {tag} is not in this machine's BentoML store: rebuilding it")
        command = [sys.executable, "-m", "dvc", "repro", "--force", "--single-item", "package"]
        subprocess.run(command, check=True, env=venv_env())
    return latest_bento()


def demo() -> None:
    bento = ensure_bento()
    sample = json.loads(SAMPLE_REQUEST.read_text(encoding="utf-8"))
    print(f"Starting {bento} with `bentoml serve` ...")
    started = time.monotonic()
    with running_bento(bento) as url:
        print(f"Ready at {url} after {time.monotonic() - started:.1f} s")
        rows = len(sample["rows"])
        show(
            f"POST /predict with {SAMPLE_REQUEST.name} ({rows} rows)",
            *post(url, SAMPLE_REQUEST.read_bytes()),
        )
        why, body = malformed_body(sample)
        show(f"POST /predict with a malformed body ({why})", *post(url, body))
    print("\nService stopped.")
    logs = prediction_log_env()[URL_ENV]
    if Path(logs).is_relative_to(REPO_ROOT):
        logs = Path(logs).relative_to(REPO_ROOT).as_posix()
    print(
        f"Answered rows logged to {logs}: `make drift CURRENT={logs}` compares them with the "
        f"training data once there are {load_params().monitoring.min_rows} or more."
    )
    metrics = json.loads(METRICS_FILE.read_text(encoding="utf-8"))
    print(f"\nTest-set metrics ({METRICS_FILE.name}):")
    for name, value in metrics.items():
        print(f"  {name:<10} {value:.4f}")
    print(f"\nBento: {bento}   (serve it: make serve PORT=3000)")


def main() -> None:
    try:
        demo()
    except (NoBentoError, ServerStartError, subprocess.CalledProcessError) as error:
        raise SystemExit(f"demo: {error}") from None
    except KeyboardInterrupt:
        raise SystemExit("demo: interrupted; the service was stopped") from None


if __name__ == "__main__":
    main()
