"""`train.model.type: xgboost` with `device: auto` through the whole loop on the CPU: `dvc repro`
in a fresh copy of the repository, then the bento it built under `bentoml serve`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import httpx
import joblib
import pytest
import yaml

from ml.core.prediction_log_layout import SAMPLE_RATE_ENV, URL_ENV
from ml.serving.local import running, serve_command
from ml.serving.service import Row, Scorer
from tests.ml.serving.requests import SAMPLE, body, changed
from tests.support.network import free_port
from tests.support.repo import RepoCopy, new_repo

pytestmark = pytest.mark.slow

XGBOOST = {
    "type": "xgboost",
    "n_estimators": 200,
    "max_depth": 3,
    "learning_rate": 0.1,
    "subsample": 0.8,
    "reg_lambda": 1.0,
    "tree_method": "hist",
    "device": "auto",
}


@dataclass(frozen=True)
class Run:
    repo: RepoCopy
    output: str

    @property
    def record(self) -> dict:
        return json.loads(self.repo.read("reports/bento.json"))

    def bento_dir(self) -> Path:
        name, bento_version = self.record["bento"].split(":")
        return self.repo.root / ".bentoml" / "bentos" / name / bento_version


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    repo = new_repo(tmp_path_factory.mktemp("xgboost") / "repo")
    params = repo.root / "params.yaml"
    data = yaml.safe_load(params.read_text(encoding="utf-8"))
    data["train"]["model"] = XGBOOST
    params.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    # `auto` resolves to the CPU on any machine, a GPU runner's included: no GPU is visible.
    repo.env["CUDA_VISIBLE_DEVICES"] = "-1"
    result = repo.dvc("repro")
    return Run(repo, result.stdout + result.stderr)


def test_repro_trains_on_the_cpu_and_the_bento_records_it(run: Run) -> None:
    assert "train: fitted xgboost on cpu" in run.output
    labels = run.record["labels"]
    assert labels["trained-on"] == "cpu"
    assert labels["params.train.model.type"] == "xgboost"
    assert labels["params.train.model.device"] == "auto"
    card = run.repo.read("reports/model_card.md").decode()
    assert "Trained on: `cpu`." in card
    assert "| `device` | `auto` |" in card
    bento = yaml.safe_load((run.bento_dir() / "bento.yaml").read_text())
    assert bento["labels"]["trained-on"] == "cpu"
    requirements = (run.bento_dir() / "env" / "python" / "requirements.txt").read_text().split()
    assert f"xgboost=={version('xgboost')}" in requirements


def test_retraining_gives_the_same_model_bytes(run: Run) -> None:
    before = hashlib.sha256(run.repo.read("models/model.joblib")).hexdigest()

    run.repo.dvc("repro", "--force", "--single-item", "train")

    assert hashlib.sha256(run.repo.read("models/model.joblib")).hexdigest() == before


def test_the_bento_serves_the_xgboost_model(run: Run, tmp_path: Path) -> None:
    port = free_port()
    env = {
        "BENTOML_HOME": str(run.repo.root / ".bentoml"),
        "BENTOML_DO_NOT_TRACK": "1",
        URL_ENV: f"file://{tmp_path / 'predictions'}",
        SAMPLE_RATE_ENV: "1",
    }
    with (
        running(serve_command(run.record["bento"], port), port, env) as url,
        httpx.Client(timeout=30) as client,
    ):
        answer = client.post(f"{url}/predict", content=json.dumps(SAMPLE).encode())
        refused = client.post(f"{url}/predict", content=body([changed(**{"mean area": -1})]))

    assert answer.status_code == 200, answer.text
    model = joblib.load(run.repo.root / "models" / "model.joblib")
    expected = Scorer(model)([Row.model_validate(row) for row in SAMPLE["rows"]])
    got = answer.json()
    assert [item["label"] for item in got] == [item.label for item in expected]
    assert [item["probability"] for item in got] == pytest.approx(
        [item.probability for item in expected]
    )
    assert refused.status_code == 400
    (error,) = refused.json()["detail"]
    assert error["loc"] == ["rows", 0, "mean area"]
