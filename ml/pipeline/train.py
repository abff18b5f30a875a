"""Stage 4, train: fit the model params.train.model describes and save it as models/model.joblib.

`params.train.model.type` picks the estimator; its other keys are that estimator's scikit-learn
arguments (XGBClassifier's for `xgboost`), so `dvc exp run -S train.model.max_iter=50` changes
exactly one of them. Identical params give a byte-identical model file: the seed is fixed and
training uses one thread. An xgboost model trains on the device `train.model.device` resolves to
(ml/pipeline/device.py) and records it in its own `device` parameter.
"""

from __future__ import annotations

from pathlib import Path

import joblib
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits
from xgboost import XGBClassifier

from ml.core.features import FEATURE_NAMES, TARGET
from ml.core.params import ModelParams, TrainParams, XGBoost, stage_params
from ml.core.paths import MODEL_FILE, REPO_ROOT, TRAIN_FILE
from ml.pipeline.device import DeviceError, record_device, resolve_device, trained_on
from ml.pipeline.schema import read_table

Model = HistGradientBoostingClassifier | RandomForestClassifier | Pipeline | XGBClassifier


def build_model(params: ModelParams, seed: int) -> Model:
    """An unfitted estimator; the params' keys other than `type` are its arguments."""
    arguments = params.model_dump(exclude={"type"})
    match params.type:
        case "hist_gradient_boosting":
            return HistGradientBoostingClassifier(**arguments, random_state=seed)
        case "random_forest":
            return RandomForestClassifier(**arguments, random_state=seed)
        case "logistic_regression":
            # A linear model needs features on one scale; the scaler travels with the model.
            return make_pipeline(
                StandardScaler(), LogisticRegression(**arguments, random_state=seed)
            )
        case "xgboost":
            # xgboost runs its own thread pool: n_jobs=1 keeps its sums in one order too.
            device = resolve_device(arguments.pop("device"))
            return XGBClassifier(**arguments, device=device, n_jobs=1, random_state=seed)


def features(table: pd.DataFrame) -> pd.DataFrame:
    return table[list(FEATURE_NAMES)]


def train(table: pd.DataFrame, params: TrainParams) -> Model:
    model = build_model(params.model, params.seed)
    # Multithreaded sums (OpenMP, BLAS) add in a core-count-dependent order; one thread keeps the
    # model's bytes the same on every machine, at no cost on a table this size.
    with threadpool_limits(limits=1):
        model.fit(features(table), table[TARGET])
    if isinstance(params.model, XGBoost) and isinstance(model, XGBClassifier):
        record_device(model, params.model.device)
    return model


def save_model(model: Model, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path)


def load_model(path: Path = MODEL_FILE) -> Model:
    return joblib.load(path)


def main() -> None:
    params = stage_params()
    try:
        model = train(read_table(TRAIN_FILE), params.train)
    except DeviceError as error:
        raise SystemExit(f"train: {error}") from None
    save_model(model, MODEL_FILE)
    print(
        f"train: fitted {params.train.model.type} on {trained_on(model)}, "
        f"wrote {MODEL_FILE.relative_to(REPO_ROOT)}"
    )


if __name__ == "__main__":
    main()
