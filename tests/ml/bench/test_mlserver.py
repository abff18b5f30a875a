"""The MLServer peer: its configuration, its request body, its pinned environment, a real run."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import httpx
import joblib
import pytest

from ml.bench import mlserver
from ml.bench.mlserver import (
    INFER_PATH,
    PEER_VENV,
    infer_body,
    model_settings,
    running_mlserver,
    settings,
    start_command,
)
from ml.bench.servers import ONE_THREAD, mlserver_body
from ml.core.paths import REPO_ROOT, SAMPLE_REQUEST
from ml.serving.local import ServerStartError
from ml.serving.service import Row, Scorer
from tests.support.packaging import write_inputs

CONSTRAINTS = REPO_ROOT / "ml" / "bench" / "peers-constraints.txt"
ROW = json.loads(SAMPLE_REQUEST.read_text(encoding="utf-8"))["rows"][0]


def test_settings_put_every_port_on_loopback_and_as_many_workers() -> None:
    config = settings(8080, 8081, 8082, workers=2)
    assert config["host"] == "127.0.0.1" and config["parallel_workers"] == 2
    assert (config["http_port"], config["grpc_port"], config["metrics_port"]) == (8080, 8081, 8082)
    assert config["debug"] is False  # no access log line per request, as the bento
    with pytest.raises(ValueError, match="at least one inference worker"):
        settings(8080, 8081, 8082, workers=0)


def test_the_model_answers_predict_proba_with_adaptive_batching(tmp_path: Path) -> None:
    model = model_settings(tmp_path / "model.joblib")
    assert model["implementation"] == "mlserver_sklearn.SKLearnModel"
    assert model["parameters"] == {
        "uri": str(tmp_path / "model.joblib"),
        "extra": {"predict_fn": "predict_proba"},
    }
    # MLServer batches only with both set above their "off" values (size 1, time 0).
    assert model["max_batch_size"] > 1 and model["max_batch_time"] > 0


def test_the_body_is_one_fp64_row_in_the_model_s_column_order() -> None:
    columns = sorted(ROW)[::-1]
    body = json.loads(infer_body(ROW, columns))
    (tensor,) = body["inputs"]
    assert tensor["shape"] == [1, len(ROW)] and tensor["datatype"] == "FP64"
    assert tensor["data"] == [ROW[name] for name in columns]
    with pytest.raises(ValueError, match="lacks the model's features"):
        infer_body({"mean radius": 1.0}, columns)


def test_the_command_starts_mlserver_from_its_own_venv(tmp_path: Path) -> None:
    assert start_command(tmp_path / "venv", tmp_path / "config") == [
        str(tmp_path / "venv" / "bin" / "mlserver"),
        "start",
        str(tmp_path / "config"),
    ]
    no_venv = running_mlserver(tmp_path / "model.joblib", 1, {}, venv=tmp_path / "venv")
    with pytest.raises(ServerStartError, match="make bench"), no_venv:
        pass


def test_the_peer_venv_loads_the_model_with_the_versions_that_saved_it() -> None:
    pins = dict(
        line.split("==", 1)
        for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.startswith("#")
    )
    # A pickled model needs the same scikit-learn (and its numerical stack) to load as saved.
    for name in ("scikit-learn", "numpy", "scipy", "joblib"):
        assert pins[name] == version(name), f"{name}: refreeze ml/bench/peers-constraints.txt"
    assert {"mlserver", "mlserver-sklearn", "uvloop", "httptools"} <= set(pins)


@pytest.mark.slow
@pytest.mark.skipif(
    not (PEER_VENV / "bin" / "mlserver").exists(), reason="no .venv-bench: `make bench` makes it"
)
def test_mlserver_answers_like_the_service(tmp_path: Path) -> None:
    inputs = write_inputs(tmp_path, max_iter=3)
    with running_mlserver(inputs.model, 1, ONE_THREAD) as url:
        answer = httpx.post(
            url + INFER_PATH,
            content=mlserver_body(inputs.model),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
    assert answer.status_code == 200, answer.text
    (output,) = answer.json()["outputs"]
    assert output["name"] == "predict_proba" and output["shape"] == [1, 2]
    expected = Scorer(joblib.load(inputs.model))([Row.model_validate(ROW)])[0]
    assert max(output["data"]) == pytest.approx(expected.probability)
    assert mlserver.MODEL_NAME in INFER_PATH
