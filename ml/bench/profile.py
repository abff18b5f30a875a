"""`make profile`: where one bento worker's time goes per request at concurrency 1.

    python -m ml.bench.profile [--seconds 10] [--rate 500]

Serves the bento (prediction logging off), drives it with wrk over one connection, records every
worker with py-spy (from .venv-bench) and keeps the busiest, the one holding the connection. Each
sample is put in the first matching layer of `LAYERS`, by its innermost frame, and the layers'
shares of the busy samples are printed and written to reports/bench-profile.json with the top
frames and the request rate. A benchmark figure: compare runs on the same machine only.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ml.bench.mlserver import PEER_VENV
from ml.bench.servers import one_row_body, serving
from ml.bench.soak import descendants, process_of
from ml.bench.wrk import run_wrk
from ml.core.paths import REPORTS_DIR
from ml.core.prediction_log_layout import SAMPLE_RATE_ENV
from ml.serving.local import recorded_bento, serve_command

# (layer, pattern of the innermost frame): the first match wins, so the model's input checks
# (narwhals, inspect under sklearn) count as the model's.
LAYERS = (
    ("model", r"sklearn|numpy|narwhals|scipy"),
    ("request validation", r"pydantic"),
    ("BentoML request metrics", r"instruments\.py|prometheus_client"),
    ("BentoML timeout and concurrency limit", r"http/traffic\.py"),
    ("BentoML tracing", r"opentelemetry|instrumentation/asgi"),
    (
        "BentoML route",
        r"_bentoml_impl|_bentoml_sdk|bentoml/_internal|simple_di|starlette|inspect\.py",
    ),
    ("uvicorn and the event loop", r"uvicorn|httptools|asyncio|uvloop"),
    ("ours", r"ml/serving"),
)
OUTPUT = REPORTS_DIR / "bench-profile.json"


@dataclass(frozen=True)
class Profile:
    requests_per_s: float
    samples: int
    layers: dict[str, float]  # share of the busy samples
    top_frames: list[tuple[str, float]]


def layer(stack: list[str]) -> str:
    leaf = stack[-1]
    if "inspect.py" in leaf and any("sklearn" in frame for frame in stack):
        return "model"
    return next((name for name, pattern in LAYERS if re.search(pattern, leaf)), "other")


def summarize(raw: str, requests_per_s: float, top: int = 12) -> Profile:
    """py-spy's raw output (`frame;frame;... count` per line) as shares per layer and frame."""
    layers: Counter[str] = Counter()
    frames: Counter[str] = Counter()
    for line in raw.splitlines():
        if not line.strip():
            continue
        stack_text, count = line.rsplit(" ", 1)
        stack = stack_text.split(";")
        layers[layer(stack)] += int(count)
        frames[re.sub(r"\(.*site-packages/", "(", stack[-1])] += int(count)
    total = sum(layers.values())
    if total == 0:
        raise ValueError("py-spy recorded no samples of a busy worker")
    return Profile(
        requests_per_s=requests_per_s,
        samples=total,
        layers={name: n / total for name, n in layers.most_common()},
        top_frames=[(frame, n / total) for frame, n in frames.most_common(top)],
    )


def workers(bento: str, port: int) -> list[int]:
    """The pids of the BentoML workers of `bento`'s server on `port`."""
    return descendants(process_of(serve_command(bento, port)))


def _samples(raw: str) -> int:
    return sum(int(line.rsplit(" ", 1)[1]) for line in raw.splitlines() if line.strip())


def recorders(pids: list[int], seconds: float, rate: int, folder: Path) -> list[subprocess.Popen]:
    """py-spy recording each of `pids` into `folder` for `seconds`, started now."""
    py_spy = PEER_VENV / "bin" / "py-spy"
    if not py_spy.exists():
        raise SystemExit("profile: no py-spy in .venv-bench: `make bench-venv` installs it")
    command = [str(py_spy), "record", "-d", str(round(seconds)), "-r", str(rate), "-f", "raw"]
    command.append("--nonblocking")  # sampling never pauses the worker
    return [
        subprocess.Popen(
            [*command, "-p", str(pid), "-o", str(folder / f"{pid}.txt")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in pids
    ]


def profile(bento: str, seconds: float, rate: int, folder: Path) -> Profile:
    body, _ = one_row_body()
    with serving(bento, {SAMPLE_RATE_ENV: "0"}) as url:
        run_wrk(f"{url}/predict", body, "bentoml", 1, 2)  # warm-up
        running = recorders(workers(bento, urlsplit(url).port or 0), seconds, rate, folder)
        load = run_wrk(f"{url}/predict", body, "bentoml", 1, seconds + 1)
        for recorder in running:
            recorder.wait()
    raws = [path.read_text(encoding="utf-8") for path in folder.glob("*.txt")]
    return summarize(max(raws, key=_samples, default=""), load.requests_per_s)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rate", type=int, default=500, help="py-spy samples per second")
    parser.add_argument("--bento", default=None, help="NAME:VERSION (default: reports/bento.json)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        result = profile(
            options.bento or recorded_bento(), options.seconds, options.rate, Path(tmp)
        )
    busy_us = 1e6 * result.samples / options.rate / (result.requests_per_s * options.seconds)
    rate = f"{result.requests_per_s:,.0f} req/s"
    print(f"one worker at concurrency 1: {rate}, about {busy_us:,.0f} µs busy a request")
    for name, share in result.layers.items():
        print(f"  {share:6.1%}  {name}")
    print("top frames:")
    for frame, share in result.top_frames:
        print(f"  {share:6.1%}  {frame}")
    options.output.write_text(json.dumps(asdict(result), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {options.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
