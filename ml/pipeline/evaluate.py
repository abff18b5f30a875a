"""Stage 5, evaluate: score the model on the held-out test set and apply the quality gate.

Writes reports/metrics.json (`dvc metrics show/diff`) and the plot data under reports/plots/
(`dvc plots show/diff`): the ROC and precision-recall curves and one actual/predicted row per test
example for the confusion matrix. The positive class is the one encoded 1 (`CLASS_NAMES[1]`),
as in scikit-learn. Then the gate: a metric below params.evaluate.thresholds fails the stage,
after the reports are written so the failing model can be inspected.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from ml.core.features import CLASS_NAMES, TARGET
from ml.core.params import Thresholds, stage_params
from ml.core.paths import METRICS_FILE, MODEL_FILE, PLOTS_DIR, TEST_FILE
from ml.pipeline.schema import read_table, write_table
from ml.pipeline.train import Model, features, load_model

DECIMALS = 4
# Plot data file names under PLOTS_DIR; dvc.yaml declares each with its template and axes.
ROC = "roc.csv"
PRECISION_RECALL = "precision_recall.csv"
CONFUSION = "confusion.csv"


def score(actual: np.ndarray, predicted: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    metrics = {
        "accuracy": accuracy_score(actual, predicted),
        "roc_auc": roc_auc_score(actual, probability),
        "f1": f1_score(actual, predicted),
        "precision": precision_score(actual, predicted, zero_division=0),
        "recall": recall_score(actual, predicted),
    }
    return {name: round(float(value), DECIMALS) for name, value in metrics.items()}


def plot_tables(
    actual: np.ndarray, predicted: np.ndarray, probability: np.ndarray
) -> dict[str, pd.DataFrame]:
    fpr, tpr, _ = roc_curve(actual, probability)
    precision, recall, _ = precision_recall_curve(actual, probability)
    names = np.asarray(CLASS_NAMES)
    return {
        ROC: pd.DataFrame({"fpr": fpr, "tpr": tpr}),
        PRECISION_RECALL: pd.DataFrame({"recall": recall, "precision": precision}),
        CONFUSION: pd.DataFrame({"actual": names[actual], "predicted": names[predicted]}),
    }


def gate(metrics: dict[str, float], thresholds: Thresholds) -> list[str]:
    """One line per metric below its threshold (empty when the model passes)."""
    return [
        f"quality gate: {name} {metrics[name]:.{DECIMALS}f} is "
        f"{minimum - metrics[name]:.{DECIMALS}f} below the threshold {minimum:.{DECIMALS}f}"
        for name, minimum in thresholds.model_dump().items()
        if metrics[name] < minimum
    ]


def evaluate(
    model: Model, test: pd.DataFrame, metrics_file: Path, plots_dir: Path
) -> dict[str, float]:
    """Score `model` on `test`, write the metrics and the plot data; returns the metrics."""
    actual = test[TARGET].to_numpy()
    predicted = np.asarray(model.predict(features(test)))
    probability = model.predict_proba(features(test))[:, 1]
    metrics = score(actual, predicted, probability)
    plots = plot_tables(actual, predicted, probability)
    metrics_file.parent.mkdir(parents=True, exist_ok=True)
    metrics_file.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    for name, table in plots.items():
        write_table(table, plots_dir / name)
    return metrics


def main() -> None:
    params = stage_params()
    metrics = evaluate(load_model(MODEL_FILE), read_table(TEST_FILE), METRICS_FILE, PLOTS_DIR)
    print("evaluate: " + ", ".join(f"{name} {value}" for name, value in metrics.items()))
    failures = gate(metrics, params.evaluate.thresholds)
    if failures:
        raise SystemExit("\n".join(failures))


if __name__ == "__main__":
    main()
