"""The prediction service: the packaged model behind one JSON endpoint, with adaptive batching.

Request: `POST /predict` with a JSON object holding 1 to `serve.max_rows` rows, each row an object
of the 30 features of ml/core/features.py (their real names, spaces included) as numbers within
the feature's physical domain (`FEATURE_DOMAIN` there, which the validate stage checks too):

    {"rows": [{"mean radius": 17.99, "mean texture": 10.38, ..., "worst symmetry": 0.4601,
               "worst fractal dimension": 0.1189}]}

Answer: one object per row, in order: the predicted class name and its probability.

    [{"label": "malignant", "probability": 0.9993}]

A bad body never reaches the model nor the prediction log: malformed JSON, a missing or unknown
feature, a string, null, NaN or Infinity, a value outside the feature's domain (a negative area,
1e308), an empty or oversized `rows` list get HTTP 400 with pydantic's validation answer, whose
`detail` names each problem's place (`["rows", 3, "mean radius"]`) and what is wrong (a body too
large to be valid gets 413 unread):

    {"error": "2 validation errors for PredictRequest",
     "detail": [{"type": "missing", "loc": ["rows", 3, "mean radius"], "msg": "Field required"},
                {"type": "feature_domain", "loc": ["rows", 4, "mean area"],
                 "msg": "'mean area' must be within its domain [0, 10000]"}]}

Every body is read as JSON whatever its Content-Type, so `curl -d @ml/serving/sample_request.json`
works without a header, and a form or multipart body gets the same 400 instead of a parser's 500.

Operations: `/livez`, `/readyz`, and `/metrics` with BentoML's request metrics beside
`predictions_total{class=...}` and the prediction log's `prediction_log_*_total` counters. Workers,
threads, timeout, concurrency limit and batching come from params.yaml's `serve` section; each
worker runs the model on the CPU (an xgboost model trained on a GPU too) with one OpenMP thread.

Prediction log (ml/serving/prediction_log.py, for drift detection): each answered row with its
features, the bento tag and a timestamp, for a share of the model calls
(`monitoring.log_sample_rate`, env PREDICTION_LOG_SAMPLE_RATE; 0 turns logging off). The sink is
PREDICTION_LOG_URL (`s3://bucket/prefix` in the cluster; `make serve` and `make run` pass the
repository's data/predictions/), else a `predictions` folder in the temporary directory: the one
writable place of a container. The request only queues references; a background thread serializes
and writes, and a failing sink is counted on /metrics, never answered to the client. Shutdown writes
what is still queued.

Adaptive batching (ml/serving/batching.py) merges the rows of the requests waiting together into
one `predict_proba` call (a call costs about the same for 1 row or 64), at most
`serve.max_batch_size` rows a call, and runs it on the event loop, without BentoML's dispatcher
and its worker thread; a request that waited over `serve.max_latency_ms` is shed with 503. The
answer is encoded once, by orjson, with its length: no response model is rebuilt per request.

Over HTTP, `POST /predict` is answered by an ASGI middleware (ml/serving/endpoint.py) inside
BentoML's metrics, tracing, timeout and concurrency-limit middlewares, which skips the per-request
work of BentoML's route; the `predict` API below declares the same contract for OpenAPI and /docs.
"""

from __future__ import annotations

import gc
import sys
import warnings
from collections import Counter
from collections.abc import Sequence
from functools import cache
from typing import Annotated, Any

import bentoml
import numpy as np
import orjson
from bentoml.validators import ContentType
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetPydanticSchema,
    ValidationError,
    WithJsonSchema,
    create_model,
)
from pydantic_core import core_schema
from starlette.responses import Response

from ml.core.features import CLASS_NAMES, FEATURE_DOMAIN, FEATURE_NAMES
from ml.core.identity import load_identity
from ml.core.params import load_params
from ml.serving.batching import Batcher
from ml.serving.endpoint import PredictEndpoint, Route, validation_detail
from ml.serving.prediction_log import PredictionLogger

PARAMS = load_params()
SERVE = PARAMS.serve
MODEL_NAME = PARAMS.package.model_name
# scikit-learn's OpenMP and BLAS pools default to one thread per core in every worker: two
# workers on two cores then fight over them and throughput collapses (see `make bench`).
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# A body larger than this cannot be valid (even pretty-printed): it is refused unparsed, with 413.
MAX_BODY_BYTES = SERVE.max_rows * len(FEATURE_NAMES) * 128 + 4096
# Allocations between young-generation collections (Python's default is 700).
GC_THRESHOLD = 50_000

# strict: no "1.5" strings or booleans taken as numbers; allow_inf_nan: JSON's NaN/Infinity out.
_NUMBER = core_schema.float_schema(strict=True, allow_inf_nan=False)


def domain_feature(feature: str) -> Any:
    """A finite number within the feature's domain; outside it, one error that states the range.

    Checked by pydantic-core, not in Python: the number, then its bounds, whose own error is
    replaced by the domain's (pydantic's would only say "greater than or equal to 0").
    """
    low, high = FEATURE_DOMAIN[feature]
    bounds = core_schema.custom_error_schema(
        core_schema.float_schema(ge=low, le=high),
        custom_error_type="feature_domain",
        custom_error_message=f"'{feature}' must be within its domain [{low:g}, {high:g}]",
        custom_error_context={"ge": low, "le": high},
    )
    checks = core_schema.chain_schema([_NUMBER, bounds])
    return Annotated[
        float,
        GetPydanticSchema(lambda _source, _handler: checks),
        WithJsonSchema({"type": "number", "minimum": low, "maximum": high}),
    ]


# Python names for the columns, whatever their spelling; requests and answers use the real names.
FIELD_NAMES = {feature: f"feature_{index}" for index, feature in enumerate(FEATURE_NAMES)}
# Built once, at import; pydantic-core checks the bounds in about a microsecond a row.
Row = create_model(
    "Row",
    __config__=ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True),
    **{
        field: (domain_feature(feature), Field(alias=feature))
        for feature, field in FIELD_NAMES.items()
    },
)
Rows = Annotated[list[Row], Field(min_length=1, max_length=SERVE.max_rows)]


class PredictRequest(bentoml.IODescriptor):
    """The body of /predict: `rows`, 1 to serve.max_rows rows of the 30 features."""

    model_config = ConfigDict(extra="forbid")

    rows: Rows


class Prediction(BaseModel):
    label: str = Field(description=f"the predicted class, one of {', '.join(CLASS_NAMES)}")
    probability: float = Field(ge=0, le=1, description="the model's probability of that class")


# Declared JSON: otherwise BentoML derives the media type from a JSON schema on every answer.
Predictions = Annotated[list[Prediction], ContentType("application/json")]


@cache
def predictions_counter() -> Any:
    """`predictions_total{class=...}` on /metrics, beside BentoML's request metrics."""
    # Created in the worker, after BentoML has set the multiprocess directory that lets /metrics
    # add up every worker's counts.
    import prometheus_client

    return prometheus_client.Counter(
        "predictions", "Rows predicted, by predicted class", labelnames=["class"]
    )


class Scorer:
    """The model's answer for validated rows: its class name and probability per row."""

    def __init__(self, model: Any) -> None:
        self.model = model
        columns = [str(c) for c in getattr(model, "feature_names_in_", FEATURE_NAMES)]
        if sorted(columns) != sorted(FEATURE_NAMES):
            raise ValueError("the model's features differ from ml/core/features.py")
        # Rows become arrays in the model's own column order, so its names are not needed.
        self.columns = columns
        self.attributes = [FIELD_NAMES[name] for name in columns]
        self.labels = [CLASS_NAMES[int(c)] for c in model.classes_]
        warnings.filterwarnings("ignore", message="X does not have valid feature names")

    def __call__(self, rows: Sequence[Any]) -> Predictions:
        return self.answer(self.features(rows))

    def features(self, rows: Sequence[Any]) -> np.ndarray:
        """The rows as a float array, one column per feature in the order of `columns`."""
        return np.array(
            [[getattr(row, name) for name in self.attributes] for row in rows], dtype=np.float64
        )

    def answer(self, features: np.ndarray) -> Predictions:
        return [
            Prediction(label=label, probability=probability)
            for label, probability in self.best(features)
        ]

    def best(self, features: np.ndarray) -> list[tuple[str, float]]:
        """The most probable class and its probability per row, as plain Python values."""
        probabilities = self.model.predict_proba(features)
        best = probabilities.argmax(axis=1)
        chosen = probabilities[np.arange(len(best)), best].tolist()
        return [(self.labels[index], p) for index, p in zip(best.tolist(), chosen, strict=True)]


def on_cpu(model: Any) -> Any:
    """The model set to predict on this worker's CPU, wherever it trained.

    An xgboost model keeps the device it trained on: one trained on a GPU would look for one at
    every call (warning when there is none), and on a GPU node copy every batch to it.
    scikit-learn's models run on the CPU anyway.
    """
    # Loading an xgboost model imports xgboost: when it is not imported, the model is not one.
    xgboost = sys.modules.get("xgboost")
    if xgboost is not None and isinstance(model, xgboost.XGBModel):
        model.set_params(device="cpu")
    return model


def tune_gc() -> None:
    """Call once the model is loaded: fewer, cheaper collections in a long-lived server."""
    # Frozen objects (the model, the framework) are never re-walked; a larger young generation
    # makes collections rarer, which is what keeps the p99 latency down.
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 50, 100)


def _tracing(sample_rate: float) -> dict[str, Any]:
    # BentoML builds a span per request even when none is sampled: about a fifth of the service's
    # CPU per prediction (measured with `make bench`). Untraced, the API and probes skip it.
    if sample_rate > 0:
        return {"sample_rate": sample_rate}
    return {"sample_rate": 0.0, "excluded_urls": ["/predict", "/livez", "/readyz", "/metrics"]}


@bentoml.service(
    labels=load_identity().cost_labels(),
    envs=[{"name": name, "value": "1"} for name in THREAD_ENV],
    workers=SERVE.workers,
    threads=SERVE.threads,
    traffic={"timeout": SERVE.timeout_s, "max_concurrency": SERVE.max_concurrency},
    # No log line per request at thousands of requests a second: /metrics keeps the counts.
    logging={"access": {"enabled": False}},
    tracing=_tracing(SERVE.tracing_sample_rate),
)
class Classifier:
    def __init__(self) -> None:
        # In a bento the model name is an alias of the exact version it was built with.
        self.scorer = Scorer(on_cpu(bentoml.sklearn.load_model(MODEL_NAME)))
        # One counter child per class, looked up once rather than by label per request.
        self.predictions = {label: predictions_counter().labels(label) for label in CLASS_NAMES}
        # Created here, in the worker, for the same reason as the counter above.
        self.prediction_log = PredictionLogger.from_env(bento_tag=served_bento_tag())
        self.batcher = Batcher(
            self.score,
            max_rows=SERVE.max_batch_size if SERVE.batching else 1,
            max_latency_s=SERVE.max_latency_ms / 1000,
        )
        PREDICT_ROUTE.answer = self.answer
        tune_gc()

    # The declared API: its schema (OpenAPI, the /docs page) and in-process calls. Over HTTP,
    # PredictEndpoint answers POST /predict the same way, without BentoML's per-request route.
    @bentoml.api(
        input_spec=PredictRequest, output_spec=bentoml.IODescriptor.from_output(Scorer.answer)
    )
    async def predict(self, rows: list[Any]) -> Response:
        """The predicted class and its probability for each row, in order."""
        answers = await self.batcher(rows)
        return Response(orjson.dumps(answers), media_type="application/json")

    async def answer(self, body: bytes) -> bytes:
        """The JSON answer to a /predict body; a bad one raises pydantic's ValidationError."""
        return orjson.dumps(await self.batcher(parse_request(body).rows))

    def score(self, rows: list[Any]) -> list[dict[str, Any]]:
        """One model call for the rows of every request in a batch: counted, logged, answered."""
        features = self.scorer.features(rows)
        best = self.scorer.best(features)
        for label, count in Counter(label for label, _ in best).items():
            self.predictions[label].inc(count)
        # The array and the answers as they are: serialized on the logger's thread, not here.
        self.prediction_log.log(features, best, columns=self.scorer.columns)
        return [{"label": label, "probability": probability} for label, probability in best]

    @bentoml.on_shutdown
    def flush_prediction_log(self) -> None:
        """Write what is still queued before the worker exits."""
        self.prediction_log.close()


# The middleware sits inside BentoML's metrics, tracing, timeout and concurrency limits.
PREDICT_ROUTE = Route("/predict", MAX_BODY_BYTES, server=f"BentoML Service/{Classifier.name}")
Classifier.add_asgi_middleware(PredictEndpoint, route=PREDICT_ROUTE)


def served_bento_tag() -> str:
    """The tag of the bento being served; empty when served from source (no bento)."""
    bento = Classifier.bento
    return "" if bento is None else str(bento.tag)


def parse_request(body: bytes) -> PredictRequest:
    """A /predict body as the service reads it, whatever its Content-Type: JSON, empty as {}."""
    return PredictRequest.model_validate_json(body or b"{}")


def validation_errors(body: bytes) -> list[dict[str, Any]]:
    """The errors the service answers for a body, without a server (empty when it is valid)."""
    try:
        parse_request(body)
    except ValidationError as error:
        return validation_detail(error)
    return []
