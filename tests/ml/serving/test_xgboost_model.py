"""An xgboost model in the service: set to predict on the CPU, whatever device it trained on."""

from __future__ import annotations

import json
import pickle
import warnings

import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from xgboost import XGBClassifier

from ml.core.features import CLASS_NAMES, FEATURE_NAMES, TARGET
from ml.serving.service import Row, Scorer, on_cpu
from tests.ml.serving.requests import SAMPLE

Tables = tuple[pd.DataFrame, pd.DataFrame]


def booster_device(model: XGBClassifier) -> str:
    return json.loads(model.get_booster().save_config())["learner"]["generic_param"]["device"]


@pytest.fixture(scope="module")
def gpu_model(split_tables: Tables) -> XGBClassifier:
    """A model as a GPU runner leaves it (`device="cuda"`), through a pickle as from the store."""
    train = split_tables[0]
    model = XGBClassifier(n_estimators=10, max_depth=3, device="cuda", n_jobs=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no GPU here: xgboost trains on the CPU
        model.fit(train[list(FEATURE_NAMES)], train[TARGET])
    return pickle.loads(pickle.dumps(model))


def test_a_gpu_trained_model_predicts_on_the_cpu(gpu_model: XGBClassifier) -> None:
    assert gpu_model.get_params()["device"] == "cuda"

    model = on_cpu(gpu_model)

    assert model.get_params()["device"] == "cpu"
    assert booster_device(model) == "cpu"


def test_the_scorer_answers_with_an_xgboost_model(
    gpu_model: XGBClassifier, split_tables: Tables
) -> None:
    scorer = Scorer(on_cpu(gpu_model))
    rows = [Row.model_validate(row) for row in SAMPLE["rows"]]

    answers = scorer(rows)

    table = pd.DataFrame(SAMPLE["rows"])[list(scorer.columns)]
    expected = gpu_model.predict_proba(table)
    assert [answer.label for answer in answers] == [CLASS_NAMES[i] for i in expected.argmax(1)]
    assert [answer.probability for answer in answers] == pytest.approx(expected.max(1).tolist())


def test_a_scikit_learn_model_is_left_as_it_is(split_tables: Tables) -> None:
    train = split_tables[0]
    model = HistGradientBoostingClassifier(max_iter=5).fit(
        train[list(FEATURE_NAMES)], train[TARGET]
    )
    before = pickle.dumps(model)

    assert on_cpu(model) is model
    assert pickle.dumps(model) == before
