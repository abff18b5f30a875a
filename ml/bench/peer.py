"""The benchmark's peer: the same model file behind a plain FastAPI + uvicorn endpoint.

    python -m ml.bench.peer --port 8001 [--workers 2] [--model models/model.joblib]

Tuned as fairly as the service: the same request schema and scoring code (ml/serving/service.py), an
async endpoint, one OpenMP thread per process, the same garbage-collector settings, and one
process per core sharing a listening socket. That socket is created with IPPROTO_TCP so that
asyncio sets TCP_NODELAY on every connection: uvicorn's own `--workers` socket lacks it, and each
keep-alive answer then waits for the client's delayed ACK (about 40 ms).
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
from pathlib import Path

import joblib
import uvicorn
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict
from threadpoolctl import threadpool_limits

from ml.core.paths import MODEL_FILE
from ml.serving.service import Prediction, Rows, Scorer, tune_gc

BACKLOG = 2048  # BentoML's default


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rows: Rows


def create_app(model_file: Path) -> FastAPI:
    scorer = Scorer(joblib.load(model_file))
    app = FastAPI()

    @app.post("/predict")
    async def predict(body: Body) -> list[Prediction]:
        return scorer(body.rows)

    @app.get("/readyz", response_class=PlainTextResponse)
    async def readyz() -> str:
        return "ok"

    return app


def _worker(sock: socket.socket, model_file: Path) -> None:
    app = create_app(model_file)
    # One OpenMP/BLAS thread per process, as the service's OMP_NUM_THREADS=1 gives its workers.
    threadpool_limits(limits=1)
    tune_gc()
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", type=Path, default=MODEL_FILE)
    options = parser.parse_args(argv)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", options.port))
    sock.listen(BACKLOG)
    workers = [
        multiprocessing.get_context("fork").Process(target=_worker, args=(sock, options.model))
        for _ in range(options.workers)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


if __name__ == "__main__":
    main()
