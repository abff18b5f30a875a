"""The prediction service's request schema and scorer, without a server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier

from ml.core.features import CLASS_NAMES, FEATURE_DOMAIN, FEATURE_NAMES
from ml.core.params import Params, load_params
from ml.core.prediction_log_layout import DEFAULT_LOG_DIR, URL_ENV
from ml.pipeline.schema import build_schema
from ml.serving.demo import malformed_body
from ml.serving.local import NoBentoError, latest_bento, prediction_log_env, recorded_bento
from ml.serving.service import Row, Scorer, validation_errors
from tests.ml.serving.requests import (
    BAD_BODIES,
    SAMPLE,
    body,
    changed,
    find,
    outside_domain,
)


def test_the_sample_request_is_valid() -> None:
    assert validation_errors(json.dumps(SAMPLE).encode()) == []
    assert len(SAMPLE["rows"]) > 1
    assert all(set(row) == set(FEATURE_NAMES) for row in SAMPLE["rows"])


@pytest.mark.parametrize(("raw", "loc", "message"), BAD_BODIES)
def test_bad_bodies_name_the_problem(raw: bytes, loc: tuple[Any, ...], message: str) -> None:
    assert message in find(validation_errors(raw), loc)["msg"]


def test_integers_are_numbers() -> None:
    assert validation_errors(body([changed(**{"mean area": 1001})])) == []


@pytest.mark.parametrize("feature", FEATURE_NAMES)
def test_each_feature_is_refused_just_outside_its_domain_and_taken_at_its_bounds(
    feature: str,
) -> None:
    low, high = FEATURE_DOMAIN[feature]
    assert validation_errors(body([changed(**{feature: low}), changed(**{feature: high})])) == []
    beyond = [float(np.nextafter(low, -np.inf)), float(np.nextafter(high, np.inf))]
    errors = validation_errors(body([changed(**{feature: value}) for value in beyond]))
    assert [(tuple(error["loc"]), error["msg"]) for error in errors] == [
        (("rows", row, feature), outside_domain(feature)) for row in range(len(beyond))
    ]


def test_the_service_and_the_validate_stage_refuse_by_the_same_domain(params: Params) -> None:
    # One declaration, ml/core/features.py: the service's fields and the schema's range checks.
    declared = {
        feature: (field["minimum"], field["maximum"])
        for feature, field in Row.model_json_schema(by_alias=True)["properties"].items()
    }
    checked = {
        name: (check.statistics["min_value"], check.statistics["max_value"])
        for name, column in build_schema(params.validate_).columns.items()
        for check in column.checks
        if check.name == "in_range"
    }
    assert declared == checked == dict(FEATURE_DOMAIN)


@pytest.fixture(scope="module")
def shuffled_model() -> Any:
    """A model fitted on the features in reverse order."""
    features, target = load_breast_cancer(return_X_y=True, as_frame=True)
    features = features[list(reversed(features.columns))]
    return HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(features, target)


def test_scorer_feeds_columns_in_the_model_s_order(shuffled_model: Any) -> None:
    import pandas as pd

    rows = [Row.model_validate(row) for row in SAMPLE["rows"]]
    answers = Scorer(shuffled_model)(rows)
    expected = shuffled_model.predict_proba(
        pd.DataFrame(SAMPLE["rows"])[list(shuffled_model.feature_names_in_)]
    )
    for answer, probabilities in zip(answers, expected, strict=True):
        assert answer.label == CLASS_NAMES[int(probabilities.argmax())]
        assert answer.probability == pytest.approx(probabilities.max())


def test_scorer_refuses_a_model_with_other_features() -> None:
    data = load_breast_cancer(as_frame=True)
    model = HistGradientBoostingClassifier(max_iter=2).fit(data.data.iloc[:, :5], data.target)
    with pytest.raises(ValueError, match="features differ"):
        Scorer(model)


def test_the_demo_s_malformed_body_is_refused_for_both_of_its_problems() -> None:
    _, raw = malformed_body(SAMPLE)
    errors = validation_errors(raw)
    assert "valid number" in find(errors, ("rows", 0, "mean radius"))["msg"]
    assert "Field required" in find(errors, ("rows", 0, "worst symmetry"))["msg"]


def test_serving_without_a_bento_says_how_to_build_one(tmp_path: Path) -> None:
    info = tmp_path / "bento.json"
    with pytest.raises(NoBentoError, match=r"no bento built yet .*run `make repro`"):
        recorded_bento(info)
    info.write_text(json.dumps({"bento": f"{load_params().package.model_name}:0000000000000000"}))
    with pytest.raises(NoBentoError, match=r"not in this machine's BentoML store .*make repro"):
        latest_bento(info)


def test_a_bento_served_from_the_checkout_logs_to_its_data_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(URL_ENV, raising=False)
    assert prediction_log_env() == {URL_ENV: str(DEFAULT_LOG_DIR)}
    monkeypatch.setenv(URL_ENV, "s3://prediction-logs/predictions")
    assert prediction_log_env() == {URL_ENV: "s3://prediction-logs/predictions"}
