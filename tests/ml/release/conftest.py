"""Models for the champion/challenger tests: the project's train function on the project's data,
with params of different strength, saved as the train stage saves them, and the test rows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ml.core.params import LogisticRegression, Params, TrainParams
from ml.pipeline.schema import write_table
from ml.pipeline.train import save_model, train
from tests.support.tiny_bento import SERVICE, bentoml_env

# On the shipped split (accuracy / roc_auc): the shipped hist_gradient_boosting 0.972 / 0.9931;
# strong 0.986 / 0.9977; close 0.979 / 0.9971 (within 0.01 / 0.005 of strong); imprecise,
# heavily regularised, 0.937 with a precision of 0.92, below the shipped threshold of 0.93.
LOGISTIC = {"strong": 1.0, "close": 0.1, "imprecise": 0.01}


@pytest.fixture(scope="session")
def model_files(
    tmp_path_factory: pytest.TempPathFactory,
    params: Params,
    split_tables: tuple[pd.DataFrame, pd.DataFrame],
) -> dict[str, Path]:
    """`shipped` (params.yaml's model) and the logistic regressions above, as joblib files."""
    folder = tmp_path_factory.mktemp("models")
    rows, _ = split_tables
    settings = {"shipped": params.train}
    for name, c in LOGISTIC.items():
        model = LogisticRegression(type="logistic_regression", C=c, max_iter=1000)
        settings[name] = TrainParams(seed=params.train.seed, model=model)
    files = {}
    for name, train_params in settings.items():
        files[name] = folder / f"{name}.joblib"
        save_model(train(rows, train_params), files[name])
    return files


@pytest.fixture(scope="session")
def test_rows(
    tmp_path_factory: pytest.TempPathFactory, split_tables: tuple[pd.DataFrame, pd.DataFrame]
) -> Path:
    """The held-out rows as the prepare stage writes them."""
    path = tmp_path_factory.mktemp("prepared") / "test.csv"
    write_table(split_tables[1], path)
    return path


SAVE_MODEL = """
import sys

import bentoml
import joblib

print(bentoml.sklearn.save_model(sys.argv[1], joblib.load(sys.argv[2])).tag)
"""


def build_model_bento(model_file: Path, src: Path, home: Path, name: str) -> str:
    """A bento named `name` holding `model_file` as its model of the same name, as the package
    stage stores it (bentoml.sklearn), built under the BentoML home `home`; returns its tag."""
    env = bentoml_env(home)
    run = {"env": env, "capture_output": True, "text": True, "check": True}
    script = [sys.executable, "-c", SAVE_MODEL, name, str(model_file)]
    model_tag = subprocess.run(script, **run).stdout.strip().splitlines()[-1]
    (src / "service.py").write_text(SERVICE, encoding="utf-8")
    bentofile = [
        "service: service:Echo",
        f"name: {name}",
        "include: [service.py]",
        "models:",
        f"  - tag: {model_tag}",
        f"    alias: {name}",
    ]
    (src / "bentofile.yaml").write_text("\n".join(bentofile) + "\n", encoding="utf-8")
    built = subprocess.run(["bentoml", "build", "--output", "tag"], cwd=src, **run).stdout
    tag = next(line for line in built.splitlines() if line.startswith("__tag__:"))
    return tag.removeprefix("__tag__:")


@pytest.fixture(scope="session")
def model_bento(
    tmp_path_factory: pytest.TempPathFactory, model_files: dict[str, Path]
) -> tuple[str, Path]:
    """A real bento of the shipped model, `breast-cancer-classifier` like the project's, and the
    BentoML home that stores it."""
    home = tmp_path_factory.mktemp("bentoml-home")
    src = tmp_path_factory.mktemp("model-bento")
    return build_model_bento(model_files["shipped"], src, home, "breast-cancer-classifier"), home
