from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from xgboost import XGBClassifier

from ml.core.features import FEATURE_NAMES
from ml.core.params import Params, TrainParams
from ml.pipeline.train import load_model, save_model, train

Tables = tuple[pd.DataFrame, pd.DataFrame]

MODELS: dict[str, dict[str, Any]] = {
    "hist_gradient_boosting": {
        "type": "hist_gradient_boosting",
        "max_iter": 20,
        "learning_rate": 0.2,
        "max_leaf_nodes": 15,
        "l2_regularization": 0.5,
        "early_stopping": False,
    },
    "random_forest": {
        "type": "random_forest",
        "n_estimators": 15,
        "max_depth": 5,
        "min_samples_leaf": 2,
    },
    "logistic_regression": {"type": "logistic_regression", "C": 0.5, "max_iter": 500},
    # subsample < 1 draws rows at random: the seed decides which.
    "xgboost": {
        "type": "xgboost",
        "n_estimators": 25,
        "max_depth": 3,
        "learning_rate": 0.3,
        "subsample": 0.8,
        "reg_lambda": 2.0,
        "device": "cpu",
    },
}


def _params(model: dict[str, Any], seed: int = 3) -> TrainParams:
    return TrainParams.model_validate({"seed": seed, "model": model})


def test_the_default_params_train_a_hist_gradient_boosting_model(
    split_tables: Tables, params: Params
) -> None:
    model = train(split_tables[0], params.train)

    assert isinstance(model, HistGradientBoostingClassifier)
    assert model.max_iter == params.train.model.max_iter  # type: ignore[union-attr]
    assert model.random_state == params.train.seed
    assert tuple(model.feature_names_in_) == FEATURE_NAMES


def test_each_model_type_gets_its_params(split_tables: Tables) -> None:
    hgb = train(split_tables[0], _params(MODELS["hist_gradient_boosting"]))
    forest = train(split_tables[0], _params(MODELS["random_forest"]))
    linear = train(split_tables[0], _params(MODELS["logistic_regression"]))
    boosted = train(split_tables[0], _params(MODELS["xgboost"]))

    assert isinstance(hgb, HistGradientBoostingClassifier)
    assert (hgb.n_iter_, hgb.max_leaf_nodes, hgb.l2_regularization) == (20, 15, 0.5)
    assert isinstance(forest, RandomForestClassifier)
    assert (len(forest.estimators_), forest.max_depth, forest.min_samples_leaf) == (15, 5, 2)
    assert forest.random_state == 3
    assert isinstance(linear, Pipeline)
    scaler, classifier = (step for _, step in linear.steps)
    assert isinstance(scaler, StandardScaler)
    assert isinstance(classifier, LogisticRegression)
    assert (classifier.C, classifier.max_iter) == (0.5, 500)
    assert isinstance(boosted, XGBClassifier)
    assert boosted.get_booster().num_boosted_rounds() == 25
    xgb_params = boosted.get_params()
    assert (xgb_params["max_depth"], xgb_params["subsample"], xgb_params["reg_lambda"]) == (
        3,
        0.8,
        2,
    )
    assert (xgb_params["tree_method"], xgb_params["device"]) == ("hist", "cpu")
    # One thread and the seed: the same bytes on every machine.
    assert (xgb_params["n_jobs"], xgb_params["random_state"]) == (1, 3)
    assert tuple(boosted.feature_names_in_) == FEATURE_NAMES


@pytest.mark.parametrize("kind", MODELS)
def test_identical_params_give_a_byte_identical_model_file(
    kind: str, tmp_path: Path, split_tables: Tables
) -> None:
    for name in ("first", "second"):
        save_model(train(split_tables[0], _params(MODELS[kind])), tmp_path / f"{name}.joblib")

    assert (tmp_path / "first.joblib").read_bytes() == (tmp_path / "second.joblib").read_bytes()


@pytest.mark.parametrize("kind", ["random_forest", "xgboost"])
def test_the_seed_changes_the_model(kind: str, tmp_path: Path, split_tables: Tables) -> None:
    for seed in (1, 2):
        model = train(split_tables[0], _params(MODELS[kind], seed=seed))
        save_model(model, tmp_path / f"{seed}.joblib")

    assert (tmp_path / "1.joblib").read_bytes() != (tmp_path / "2.joblib").read_bytes()


@pytest.mark.parametrize("kind", ["logistic_regression", "xgboost"])
def test_a_saved_model_predicts_like_the_trained_one(
    kind: str, tmp_path: Path, split_tables: Tables
) -> None:
    train_table, test_table = split_tables
    model = train(train_table, _params(MODELS[kind]))
    save_model(model, tmp_path / "models" / "model.joblib")

    loaded = load_model(tmp_path / "models" / "model.joblib")

    features = test_table[list(FEATURE_NAMES)]
    assert (loaded.predict_proba(features) == model.predict_proba(features)).all()
