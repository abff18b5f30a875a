from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.core.features import CLASS_NAMES
from ml.core.params import Params, Thresholds
from ml.pipeline.evaluate import CONFUSION, PRECISION_RECALL, ROC, evaluate, gate, score
from ml.pipeline.train import train

METRICS = ("accuracy", "roc_auc", "f1", "precision", "recall")


@pytest.fixture(scope="module")
def evaluated(
    tmp_path_factory: pytest.TempPathFactory,
    split_tables: tuple[pd.DataFrame, pd.DataFrame],
    params: Params,
) -> tuple[dict[str, float], Path]:
    reports = tmp_path_factory.mktemp("reports")
    model = train(split_tables[0], params.train)
    metrics = evaluate(model, split_tables[1], reports / "metrics.json", reports / "plots")
    return metrics, reports


def test_writes_the_metrics_rounded(evaluated: tuple[dict[str, float], Path]) -> None:
    metrics, reports = evaluated

    written = json.loads((reports / "metrics.json").read_text(encoding="utf-8"))

    assert written == metrics
    assert tuple(written) == METRICS
    for value in written.values():
        assert 0.9 < value <= 1
        assert value == round(value, 4)


def test_writes_the_plot_data(
    evaluated: tuple[dict[str, float], Path], split_tables: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    plots = evaluated[1] / "plots"

    roc = pd.read_csv(plots / ROC)
    assert list(roc.columns) == ["fpr", "tpr"]
    assert roc.iloc[0].tolist() == [0, 0]
    assert roc.iloc[-1].tolist() == [1, 1]
    assert roc["fpr"].is_monotonic_increasing
    curve = pd.read_csv(plots / PRECISION_RECALL)
    assert list(curve.columns) == ["recall", "precision"]
    confusion = pd.read_csv(plots / CONFUSION)
    assert list(confusion.columns) == ["actual", "predicted"]
    assert len(confusion) == len(split_tables[1])
    assert set(confusion["actual"]) == set(CLASS_NAMES)
    accuracy = (confusion["actual"] == confusion["predicted"]).mean()
    assert round(accuracy, 4) == evaluated[0]["accuracy"]


def test_score_computes_each_metric() -> None:
    actual = np.array([0, 0, 1, 1, 1])
    predicted = np.array([0, 1, 1, 1, 0])
    probability = np.array([0.1, 0.6, 0.9, 0.8, 0.4])

    assert score(actual, predicted, probability) == {
        "accuracy": 0.6,
        "roc_auc": 0.8333,
        "f1": 0.6667,
        "precision": 0.6667,
        "recall": 0.6667,
    }


def _thresholds(**overrides: float) -> Thresholds:
    return Thresholds.model_validate(dict.fromkeys(METRICS, 0.9) | overrides)


def test_the_gate_passes_metrics_at_or_above_their_thresholds() -> None:
    metrics = dict.fromkeys(METRICS, 0.9)

    assert gate(metrics, _thresholds()) == []


def test_the_gate_names_each_metric_below_and_the_gap() -> None:
    metrics = dict.fromkeys(METRICS, 0.95) | {"recall": 0.912, "roc_auc": 0.9699}

    failures = gate(metrics, _thresholds(recall=0.93, roc_auc=0.97))

    assert failures == [
        "quality gate: roc_auc 0.9699 is 0.0001 below the threshold 0.9700",
        "quality gate: recall 0.9120 is 0.0180 below the threshold 0.9300",
    ]
