"""Fixtures for the drift tests: the breast-cancer table split and a model fit on it."""

from __future__ import annotations

import joblib
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ml.core.features import FEATURE_NAMES, TARGET
from tests.ml.monitoring.drift_support import Data


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Data:
    table = load_breast_cancer(as_frame=True).frame
    assert list(table.columns[:-1]) == list(FEATURE_NAMES)
    train, held_out = train_test_split(
        table, test_size=0.25, random_state=0, stratify=table[TARGET]
    )
    folder = tmp_path_factory.mktemp("drift-data")
    train.to_csv(folder / "train.csv", index=False)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(train[list(FEATURE_NAMES)], train[TARGET])
    joblib.dump(model, folder / "model.joblib")
    return Data(folder / "train.csv", held_out, train, folder / "model.joblib")
