"""The benchmark's second peer: Seldon's MLServer serving the same model file, batching on.

MLServer pins packages BentoML's own pins conflict with (fastapi, starlette), so it runs from its
own virtual environment (`.venv-bench`, which `make bench` creates from
ml/bench/peers-constraints.txt), with the production install a user would pick: uvloop and
httptools (`uvicorn[standard]`). Its scikit-learn runtime loads models/model.joblib with the
same scikit-learn version and answers `predict_proba`, one OpenMP thread per process.

It speaks the Open Inference Protocol (V2): the one row of the other servers' body becomes one
FP64 tensor of shape [1, 30] in the model's column order, POSTed to /v2/models/<name>/infer.
`parallel_workers` inference processes (as many as the other servers' workers) sit behind one
HTTP process, whose adaptive batching merges the requests that arrive within MAX_BATCH_TIME_S.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ml.core.paths import REPO_ROOT
from ml.serving.local import (
    LOCALHOST,
    STARTUP_TIMEOUT_S,
    ServerStartError,
    free_port,
    stop,
    wait_ready,
)

PEER_VENV = REPO_ROOT / ".venv-bench"
MODEL_NAME = "classifier"
INFER_PATH = f"/v2/models/{MODEL_NAME}/infer"
READY_PATH = f"/v2/models/{MODEL_NAME}/ready"  # 200 once the model has loaded
# The service's own serve.max_batch_size; MLServer waits up to this long for a batch to fill: at
# concurrency 1 every request pays it, so it is kept short (its docs use 0.1-0.5 s).
MAX_BATCH_SIZE = 256
MAX_BATCH_TIME_S = 0.0005


def settings(port: int, grpc_port: int, metrics_port: int, workers: int) -> dict[str, Any]:
    """settings.json: the server on loopback ports, `workers` inference processes, no access
    log (debug) and no tracing, as the bento runs."""
    if workers < 1:
        raise ValueError(f"MLServer needs at least one inference worker, not {workers}")
    return {
        "debug": False,
        "host": LOCALHOST,
        "http_port": port,
        "grpc_port": grpc_port,
        "metrics_port": metrics_port,
        "parallel_workers": workers,
    }


def model_settings(model_file: Path) -> dict[str, Any]:
    """model-settings.json: the scikit-learn runtime answering predict_proba, batching on."""
    return {
        "name": MODEL_NAME,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "max_batch_size": MAX_BATCH_SIZE,
        "max_batch_time": MAX_BATCH_TIME_S,
        "parameters": {"uri": str(model_file.resolve()), "extra": {"predict_fn": "predict_proba"}},
    }


def infer_body(row: Mapping[str, float], columns: Sequence[str]) -> bytes:
    """One row as a V2 inference request: an FP64 [1, n] tensor in the model's column order."""
    missing = sorted(set(columns) - set(row))
    if missing:
        raise ValueError(f"the row lacks the model's features {missing}")
    data = [float(row[column]) for column in columns]
    tensor = {"name": "input-0", "shape": [1, len(data)], "datatype": "FP64", "data": data}
    return json.dumps({"inputs": [tensor]}).encode("utf-8")


def start_command(venv: Path, folder: Path) -> list[str]:
    return [str(venv / "bin" / "mlserver"), "start", str(folder)]


def write_config(folder: Path, model_file: Path, port: int, workers: int) -> None:
    config = settings(port, free_port(), free_port(), workers)
    (folder / "settings.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    model = model_settings(model_file)
    (folder / "model-settings.json").write_text(json.dumps(model, indent=2), encoding="utf-8")


@contextmanager
def running_mlserver(
    model_file: Path, workers: int, env: Mapping[str, str], venv: Path = PEER_VENV
) -> Iterator[str]:
    """MLServer on a free loopback port until the block ends; yields its URL."""
    if not (venv / "bin" / "mlserver").exists():
        raise ServerStartError(
            f"no MLServer in {venv}: `make bench` creates it from ml/bench/peers-constraints.txt"
        )
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-mlserver-") as tmp:
        folder = Path(tmp)
        write_config(folder, model_file, port, workers)
        log = folder / "server.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                start_command(venv, folder),
                cwd=folder,
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env},
                start_new_session=True,
            )
        try:
            url = f"http://{LOCALHOST}:{port}"
            wait_ready(url, process, log, STARTUP_TIMEOUT_S, READY_PATH)
            yield url
        finally:
            stop(process)
