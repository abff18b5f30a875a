"""`make bench-profile`: py-spy's samples of a worker, put in layers."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.bench import profile
from ml.bench.profile import layer, summarize
from ml.bench.timings import BenchError
from tests.support.network import free_port

SITE = "/srv/app/.venv/lib/python3.11/site-packages"
LOOP = "Runner.run (/usr/lib/python3.11/asyncio/runners.py:118)"
MODEL = f"TreePredictor.predict ({SITE}/sklearn/ensemble/_hist_gradient_boosting/predictor.py:74)"
NARWHALS = f"is_into_series ({SITE}/narwhals/stable/v2/dependencies.py:80)"
INSPECT = "getattr_static (/usr/lib/python3.11/inspect.py:1822)"
METRICS = f"MetricWrapperBase.labels ({SITE}/prometheus_client/metrics.py:176)"
ROUTE = "Signature.__init__ (/usr/lib/python3.11/inspect.py:3022)"
OURS = "PredictEndpoint.__call__ (/srv/app/ml/serving/endpoint.py:91)"
RAW = "\n".join(
    [
        f"{LOOP};{MODEL} 60",
        f"{LOOP};{MODEL};{NARWHALS};{INSPECT} 10",  # the model's input check
        f"{LOOP};{METRICS} 10",
        f"{LOOP};{OURS};{ROUTE} 5",  # BentoML's per-call signature, under no sklearn frame
        f"{LOOP};{OURS} 5",
        f"{LOOP} 10",
        "",
    ]
)


def test_samples_go_to_the_layer_of_their_innermost_frame() -> None:
    result = summarize(RAW, requests_per_s=500.0)
    assert result.samples == 100
    assert result.layers == {
        "model": 0.7,
        "BentoML request metrics": 0.1,
        "uvicorn and the event loop": 0.1,
        "BentoML route": 0.05,
        "ours": 0.05,
    }
    frame, share = result.top_frames[0]
    assert (frame, share) == (
        "TreePredictor.predict (sklearn/ensemble/_hist_gradient_boosting/predictor.py:74)",
        0.6,
    )


def test_inspect_counts_as_the_model_only_under_the_model() -> None:
    assert layer([LOOP, MODEL, INSPECT]) == "model"
    assert layer([LOOP, OURS, ROUTE]) == "BentoML route"
    assert layer(["main (/srv/app/tool.py:1)"]) == "other"


def test_no_samples_is_an_error_not_an_empty_profile() -> None:
    with pytest.raises(ValueError, match="no samples"):
        summarize("\n", requests_per_s=0.0)


def test_no_workers_without_a_server() -> None:
    with pytest.raises(BenchError, match="no process runs"):
        profile.workers("breast-cancer-classifier:none", free_port())


def test_without_py_spy_it_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(profile, "PEER_VENV", tmp_path)
    with pytest.raises(SystemExit, match="make bench-venv"):
        profile.recorders([1], seconds=1, rate=100, folder=tmp_path)
