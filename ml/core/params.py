"""One typed model of params.yaml, validated before any stage does work.

A wrong file fails with the dotted key that is wrong (`train.model.max_iter: ...`), so a typo in
`dvc exp run -S ...` never trains a model with a silently ignored setting.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ml.core.errors import Loc, dotted_key, problems
from ml.core.features import FEATURE_NAMES
from ml.core.identity import PARAMS_FILE, Identity
from ml.core.yaml_file import ConfigFileError, load_yaml

Fraction = Annotated[float, Field(gt=0, lt=1)]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class IngestParams(Section):
    # Where the raw table lands; ml/pipeline/ingest.py is where a fork plugs in its own source.
    output: str = "data/raw/breast_cancer.csv"


class ValidateParams(Section):
    min_rows: Annotated[int, Field(ge=1)]
    max_null_fraction: Annotated[float, Field(ge=0, le=1)]
    # The rarest class must make up at least this share of rows.
    min_class_fraction: Annotated[float, Field(gt=0, le=0.5)]


class PrepareParams(Section):
    test_size: Fraction
    seed: Seed


class HistGradientBoosting(Section):
    type: Literal["hist_gradient_boosting"]
    max_iter: Annotated[int, Field(ge=1, le=10_000)]
    learning_rate: Annotated[float, Field(gt=0, le=1)]
    max_leaf_nodes: Annotated[int, Field(ge=2, le=4096)]
    max_depth: Annotated[int, Field(ge=1)] | None = None
    l2_regularization: Annotated[float, Field(ge=0)]
    early_stopping: bool


class RandomForest(Section):
    type: Literal["random_forest"]
    n_estimators: Annotated[int, Field(ge=1, le=10_000)]
    max_depth: Annotated[int, Field(ge=1)] | None = None
    min_samples_leaf: Annotated[int, Field(ge=1)]


class LogisticRegression(Section):
    type: Literal["logistic_regression"]
    C: Annotated[float, Field(gt=0)]
    max_iter: Annotated[int, Field(ge=1, le=100_000)]


class XGBoost(Section):
    """xgboost's scikit-learn classifier; the keys are XGBClassifier's arguments."""

    type: Literal["xgboost"]
    n_estimators: Annotated[int, Field(ge=1, le=10_000)]
    max_depth: Annotated[int, Field(ge=1, le=64)]
    learning_rate: Annotated[float, Field(gt=0, le=1)]
    subsample: Annotated[float, Field(gt=0, le=1)] = 1.0
    colsample_bytree: Annotated[float, Field(gt=0, le=1)] = 1.0
    min_child_weight: Annotated[float, Field(ge=0)] = 1.0
    reg_lambda: Annotated[float, Field(ge=0)] = 1.0
    reg_alpha: Annotated[float, Field(ge=0)] = 0.0
    # The tree methods that run on both devices (`exact` is CPU-only), so one file fits both.
    tree_method: Literal["hist", "approx"] = "hist"
    # auto: CUDA when xgboost has it and a GPU is visible, else the CPU (ml/pipeline/device.py).
    device: Literal["auto", "cpu", "cuda"] = "auto"


ModelParams = Annotated[
    HistGradientBoosting | RandomForest | LogisticRegression | XGBoost,
    Field(discriminator="type"),
]


class TrainParams(Section):
    seed: Seed
    model: ModelParams


class Thresholds(Section):
    accuracy: Annotated[float, Field(ge=0, le=1)]
    roc_auc: Annotated[float, Field(ge=0, le=1)]
    f1: Annotated[float, Field(ge=0, le=1)]
    precision: Annotated[float, Field(ge=0, le=1)]
    recall: Annotated[float, Field(ge=0, le=1)]


# Metric values are fractions: a margin is one too, and a negative one would demand a better model.
Margin = Annotated[float, Field(ge=0, le=1)]


class Margins(Section):
    """How far below production a candidate may score, per metric; a metric left out is shown
    beside production's but not compared. The keys are the metrics the evaluate stage computes."""

    accuracy: Margin | None = None
    roc_auc: Margin | None = None
    f1: Margin | None = None
    precision: Margin | None = None
    recall: Margin | None = None


class ChampionParams(Section):
    """The champion/challenger gate (ml/release/gate.py): the candidate against production."""

    margins: Margins = Margins()
    # A local model file to compare with instead of the registry's production model (offline
    # runs), relative to the repository root; null: the registry, when a bucket is configured.
    file: Annotated[str, Field(min_length=1)] | None = None


class EvaluateParams(Section):
    thresholds: Thresholds
    champion: ChampionParams = ChampionParams()


class PackageParams(Section):
    # DNS-safe: it names the BentoML model, the bento and the Kubernetes workload.
    model_name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,40}[a-z0-9]$")]


class ServeParams(Section):
    # Rows one request may carry; more is a 400 naming the limit.
    max_rows: Annotated[int, Field(ge=1, le=100_000)]
    # Serving processes, and threads per process for the (synchronous) model call.
    workers: Annotated[int, Field(ge=1, le=64)]
    threads: Annotated[int, Field(ge=1, le=256)]
    timeout_s: Annotated[int, Field(ge=1, le=600)]
    # Requests in flight across the workers; beyond it the service answers 429.
    max_concurrency: Annotated[int, Field(ge=1)]
    # Adaptive batching: rows of concurrent requests share one model call, held at most
    # max_latency_ms (a request that would wait longer is answered 503).
    batching: bool
    max_batch_size: Annotated[int, Field(ge=2, le=100_000)]
    max_latency_ms: Annotated[int, Field(ge=1, le=60_000)]
    # Share of requests traced (spans go to the exporter set in BentoML's tracing config).
    tracing_sample_rate: Annotated[float, Field(ge=0, le=1)] = 0.0


class MonitoringParams(Section):
    # Prediction logging: share of requests logged, and how the background writer batches.
    log_sample_rate: Annotated[float, Field(ge=0, le=1)]
    log_queue_size: Annotated[int, Field(ge=1, le=1_000_000)]
    log_batch_rows: Annotated[int, Field(ge=1, le=1_000_000)]
    log_flush_seconds: Annotated[float, Field(gt=0, le=3600)]
    # Drift detection: a feature drifts when its KS test survives Benjamini-Hochberg at
    # fdr_alpha AND its PSI reaches psi_threshold (significant and large enough to matter).
    min_rows: Annotated[int, Field(ge=10)]
    psi_bins: Annotated[int, Field(ge=2, le=100)]
    psi_threshold: Annotated[float, Field(gt=0)]
    fdr_alpha: Fraction
    class_psi_threshold: Annotated[float, Field(gt=0)]
    # Features to check; empty means all of ml/core/features.py.
    features: tuple[str, ...] = ()

    @field_validator("features")
    @classmethod
    def _known_features(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in value if name not in FEATURE_NAMES]
        if unknown:
            raise ValueError(f"unknown feature names {unknown}; see ml/core/features.py")
        return value


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    identity: Identity
    ingest: IngestParams
    validate_: ValidateParams = Field(alias="validate")
    prepare: PrepareParams
    train: TrainParams
    evaluate: EvaluateParams
    package: PackageParams
    serve: ServeParams
    monitoring: MonitoringParams


class ParamsError(ValueError):
    """params.yaml is wrong; the message names each key and what is wrong with it."""


_MODEL_TAGS = frozenset(
    ("hist_gradient_boosting", "random_forest", "logistic_regression", "xgboost")
)


def _key(loc: Loc) -> str:
    # pydantic puts the union member's tag into the path; users know only the YAML keys.
    return dotted_key(loc, skip=_MODEL_TAGS).replace("validate_", "validate")


def parse_params(data: object) -> Params:
    if not isinstance(data, dict):
        raise ParamsError("params.yaml: expected a mapping of sections")
    try:
        return Params.model_validate(data)
    except ValidationError as error:
        lines = problems(error, _key)
        raise ParamsError("invalid params.yaml\n  " + "\n  ".join(lines)) from None


@cache
def load_params(path: Path = PARAMS_FILE) -> Params:
    """Read and validate the whole file: a wrong key anywhere stops every stage before work."""
    try:
        data = load_yaml(path)
    except ConfigFileError as error:
        raise ParamsError(str(error)) from None
    return parse_params(data)


def stage_params() -> Params:
    """load_params() for a stage's entry point: a wrong file exits non-zero naming the keys."""
    try:
        return load_params()
    except ParamsError as error:
        raise SystemExit(str(error)) from None
