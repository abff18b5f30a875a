"""Inputs for the package stage built in a temporary folder, and the stage run on them for real.

A small model on scikit-learn's copy of the breast-cancer table, its real metrics, and a dvc.lock
recording the table's md5: what the pipeline would leave, without running it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import yaml
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from ml.core.params import load_params
from ml.core.paths import REPO_ROOT


@dataclass(frozen=True)
class Inputs:
    root: Path
    model: Path
    metrics: Path
    lock: Path
    data_md5: str

    @property
    def bentoml_home(self) -> Path:
        return self.root / "bentoml"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "BENTOML_HOME": str(self.bentoml_home), "BENTOML_DO_NOT_TRACK": "1"}


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def write_inputs(root: Path, max_iter: int = 10, model_name: str = "model.joblib") -> Inputs:
    root.mkdir(parents=True, exist_ok=True)
    features, target = load_breast_cancer(return_X_y=True, as_frame=True)
    model = HistGradientBoostingClassifier(max_iter=max_iter, random_state=0).fit(features, target)
    model_file = root / model_name
    joblib.dump(model, model_file)

    predicted = model.predict(features)
    probability = model.predict_proba(features)[:, 1]
    metrics = {
        "accuracy": accuracy_score(target, predicted),
        "roc_auc": roc_auc_score(target, probability),
        "f1": f1_score(target, predicted),
        "precision": precision_score(target, predicted),
        "recall": recall_score(target, predicted),
    }
    metrics_file = root / "metrics.json"
    metrics_file.write_text(json.dumps({k: round(float(v), 4) for k, v in metrics.items()}))

    table = root / "breast_cancer.csv"
    features.assign(target=target).to_csv(table, index=False)
    data_path = load_params().ingest.output
    lock = {
        "schema": "2.0",
        "stages": {
            "ingest": {
                "cmd": "python -m ml.pipeline.ingest",
                "outs": [{"path": data_path, "hash": "md5", "md5": md5(table), "size": 1234}],
            },
            "train": {
                "cmd": "python -m ml.pipeline.train",
                "outs": [{"path": "models/model.joblib", "hash": "md5", "md5": md5(model_file)}],
            },
        },
    }
    lock_file = root / "dvc.lock"
    lock_file.write_text(yaml.safe_dump(lock))
    return Inputs(root, model_file, metrics_file, lock_file, md5(table))


def run_package(inputs: Inputs, reports: Path, model: Path | None = None) -> dict[str, Any]:
    """`python -m ml.pipeline.package` on the inputs, BentoML's store under inputs.root."""
    command = [sys.executable, "-m", "ml.pipeline.package", "--model", str(model or inputs.model)]
    command += ["--metrics", str(inputs.metrics), "--dvc-lock", str(inputs.lock)]
    command += ["--reports", str(reports)]
    result = subprocess.run(
        command, cwd=REPO_ROOT, env=inputs.env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads((reports / "bento.json").read_text())


def bento_dir(inputs: Inputs, tag: str) -> Path:
    name, version = tag.split(":")
    return inputs.bentoml_home / "bentos" / name / version
