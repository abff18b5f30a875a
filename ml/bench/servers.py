"""The servers `make bench` compares: the bento with prediction logging off and on, and two peers
on the same model file: MLServer (ml/bench/mlserver.py) and FastAPI (ml/bench/peer.py).

Each listens on a free 127.0.0.1 port with the same number of workers; the logging one writes to
a folder the caller owns, whose rows are counted once the servers have stopped (shutdown writes
what is still queued). Each gets the same row, in its own protocol (`Endpoint`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import joblib

from ml.bench.mlserver import INFER_PATH, PEER_VENV, infer_body, running_mlserver
from ml.core.paths import MODEL_FILE, SAMPLE_REQUEST
from ml.core.prediction_log_layout import LOG_SUFFIX, SAMPLE_RATE_ENV, URL_ENV
from ml.serving.local import free_port, running, serve_command

SERVICE, LOGGING, MLSERVER, PEER = "bentoml", "bentoml+log", "mlserver", "fastapi"
PEERS = (MLSERVER, PEER)
# The peer's OpenMP/BLAS pools are also capped in-process; the env covers numpy's BLAS at import.
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


@dataclass(frozen=True)
class Endpoint:
    """Where a server answers predictions, and the body holding the benchmark's row for it."""

    url: str
    path: str
    body: bytes

    @property
    def target(self) -> str:
        return self.url + self.path


def slice_order(names: Sequence[str], slices: int) -> Iterator[str]:
    """The servers' turns over `slices` slices: a, b, c, then c, b, a, and so on, so that a load
    on the machine that comes and goes slows them alike."""
    for index in range(slices):
        yield from names if index % 2 == 0 else names[::-1]


def one_row_body() -> tuple[bytes, int]:
    """The first row of ml/serving/sample_request.json as a /predict body, and its row count."""
    rows = json.loads(SAMPLE_REQUEST.read_text(encoding="utf-8"))["rows"]
    return json.dumps({"rows": rows[:1]}).encode("utf-8"), 1


def mlserver_body(model_file: Path) -> bytes:
    """The same row as a V2 inference request, in the model's own column order."""
    row = json.loads(SAMPLE_REQUEST.read_text(encoding="utf-8"))["rows"][0]
    columns = [str(name) for name in joblib.load(model_file).feature_names_in_]
    return infer_body(row, columns)


@contextmanager
def serving(bento: str, env: Mapping[str, str]) -> Iterator[str]:
    port = free_port()
    with running(serve_command(bento, port), port, env) as url:
        yield url


def peer_command(port: int, workers: int, model_file: Path) -> list[str]:
    """The FastAPI peer (ml/bench/peer.py) in this interpreter."""
    module = [sys.executable, "-m", "ml.bench.peer"]
    return [*module, "--port", str(port), "--workers", str(workers), "--model", str(model_file)]


@contextmanager
def bench_servers(
    bento: str, log_dir: Path, peer_workers: int, peer_venv: Path = PEER_VENV
) -> Iterator[dict[str, Endpoint]]:
    """Server name -> endpoint of the four servers, running until the block ends."""
    body, _ = one_row_body()
    peer_port = free_port()
    with (
        serving(bento, {SAMPLE_RATE_ENV: "0"}) as off_url,
        serving(bento, {SAMPLE_RATE_ENV: "1", URL_ENV: f"file://{log_dir}"}) as on_url,
        running_mlserver(MODEL_FILE, peer_workers, ONE_THREAD, peer_venv) as mlserver_url,
        running(peer_command(peer_port, peer_workers, MODEL_FILE), peer_port, ONE_THREAD) as peer,
    ):
        yield {
            SERVICE: Endpoint(off_url, "/predict", body),
            LOGGING: Endpoint(on_url, "/predict", body),
            MLSERVER: Endpoint(mlserver_url, INFER_PATH, mlserver_body(MODEL_FILE)),
            PEER: Endpoint(peer, "/predict", body),
        }


def logged_rows(folder: Path) -> int:
    return sum(len(file.read_bytes().splitlines()) for file in folder.rglob(f"*{LOG_SUFFIX}"))
