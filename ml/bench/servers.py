"""The servers `make bench` compares: the bento with prediction logging off and on, and the peer.

Each listens on a free 127.0.0.1 port; the logging one writes to a folder the caller owns, whose
rows are counted once the servers have stopped (shutdown writes what is still queued).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from ml.core.paths import MODEL_FILE
from ml.core.prediction_log_layout import LOG_SUFFIX, SAMPLE_RATE_ENV, URL_ENV
from ml.serving.local import free_port, running, serve_command

SERVICE, LOGGING, PEER = "bentoml", "bentoml+log", "fastapi"
# The peer's OpenMP/BLAS pools are also capped in-process; the env covers numpy's BLAS at import.
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


@contextmanager
def serving(bento: str, env: Mapping[str, str]) -> Iterator[str]:
    port = free_port()
    with running(serve_command(bento, port), port, env) as url:
        yield url


@contextmanager
def bench_servers(bento: str, log_dir: Path, peer_workers: int) -> Iterator[dict[str, str]]:
    """Server name -> URL of the three servers, running until the block ends."""
    peer_port = free_port()
    peer = [sys.executable, "-m", "ml.bench.peer", "--port", str(peer_port)]
    peer += ["--workers", str(peer_workers), "--model", str(MODEL_FILE)]
    with (
        serving(bento, {SAMPLE_RATE_ENV: "0"}) as off_url,
        serving(bento, {SAMPLE_RATE_ENV: "1", URL_ENV: f"file://{log_dir}"}) as on_url,
        running(peer, peer_port, ONE_THREAD) as peer_url,
    ):
        yield {SERVICE: off_url, LOGGING: on_url, PEER: peer_url}


def logged_rows(folder: Path) -> int:
    return sum(len(file.read_bytes().splitlines()) for file in folder.rglob(f"*{LOG_SUFFIX}"))
