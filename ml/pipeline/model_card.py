"""The model card: what the packaged model is for, what made it, how good it is, how to serve it.

Rendered by the package stage from the same facts as the bento's labels, written to
reports/model_card.md and used as the bento's description. A fork edits `INTENDED_USE` and
`LIMITATIONS` for its own data; everything else comes from the pipeline.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ml.core.features import CLASS_NAMES, FEATURE_NAMES

INTENDED_USE = (
    "Classifies a breast mass as one of {classes} from {n} measurements of the cell nuclei in a "
    "digitized fine-needle aspirate image (the Wisconsin Diagnostic Breast Cancer table). It is "
    "the worked example of this template: a baseline to replace with your own data and model."
)
LIMITATIONS = (
    "Trained on a few hundred samples from one institution; not validated for clinical use and "
    "not a medical device. The service refuses values outside each feature's physical domain "
    "(ml/core/features.py) but scores values inside it that the training rows never showed: "
    "watch the drift report before trusting the answers."
)


@dataclass(frozen=True)
class CardFacts:
    model_name: str
    bento_tag: str
    model_tag: str
    model_params: Mapping[str, Any]
    # The device the model trained on (`cpu` or `cuda`), whatever `device: auto` asked for.
    trained_on: str
    metrics: Mapping[str, float]
    thresholds: Mapping[str, float]
    git_commit: str
    data_path: str
    data_md5: str
    data_bytes: int | None
    cost_labels: Mapping[str, str]
    port: int = 3000


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _metric_rows(metrics: Mapping[str, float], thresholds: Mapping[str, float]) -> list[tuple]:
    rows = []
    for name, value in metrics.items():
        minimum = thresholds.get(name)
        if minimum is None:
            rows.append((name, f"{value:.4f}", "-", "-"))
        else:
            verdict = "pass" if value >= minimum else "**below**"
            rows.append((name, f"{value:.4f}", f"{minimum:.4f}", verdict))
    return rows


def _purpose(facts: CardFacts) -> list[str]:
    classes = " or ".join(f"`{name}`" for name in CLASS_NAMES)
    return [
        f"# Model card: {facts.model_name}",
        "",
        f"Bento `{facts.bento_tag}`, model `{facts.model_tag}`.",
        "",
        "## Intended use",
        "",
        INTENDED_USE.format(classes=classes, n=len(FEATURE_NAMES)),
        "",
        "## Limitations",
        "",
        LIMITATIONS,
        "",
    ]


def _data_and_model(facts: CardFacts) -> list[str]:
    size = f", {facts.data_bytes:,} bytes" if facts.data_bytes is not None else ""
    return [
        "## Data",
        "",
        f"- Source table: `{facts.data_path}` (md5 `{facts.data_md5}`{size}), as recorded "
        "in dvc.lock; `dvc checkout` at the commit below restores it.",
        f"- Features: the {len(FEATURE_NAMES)} columns of ml/core/features.py; target classes "
        f"{', '.join(f'`{name}`' for name in CLASS_NAMES)}.",
        "",
        "## Model and training parameters",
        "",
        f"Trained on: `{facts.trained_on}`. The service predicts on the CPU.",
        "",
        *_table(
            ("parameter", "value"),
            [(f"`{key}`", f"`{_value(value)}`") for key, value in facts.model_params.items()],
        ),
        "",
        "## Evaluation (held-out test set)",
        "",
        *_table(
            ("metric", "value", "threshold", "verdict"),
            _metric_rows(facts.metrics, facts.thresholds),
        ),
        "",
    ]


def _lineage(facts: CardFacts) -> list[str]:
    commit = (
        "uncommitted (built from a working tree with changes, or before the first commit)"
        if facts.git_commit == "uncommitted"
        else f"`{facts.git_commit}`"
    )
    return [
        "## Lineage",
        "",
        f"- Git commit: {commit}",
        f"- Data md5: `{facts.data_md5}`",
        f"- Bento: `{facts.bento_tag}`; model: `{facts.model_tag}`",
        "- Every parameter and metric is also a label of the bento (`bentoml get "
        f"{facts.bento_tag} -o json`).",
        "",
        "## Cost allocation",
        "",
        *_table(("label", "value"), [(key, value) for key, value in facts.cost_labels.items()]),
        "",
    ]


def _serving(facts: CardFacts) -> list[str]:
    return [
        "## How to serve",
        "",
        "```sh",
        f"make serve PORT={facts.port}",
        f"# or: bentoml serve {facts.bento_tag} --port {facts.port}",
        f"curl -s -X POST http://127.0.0.1:{facts.port}/predict "
        "-H 'Content-Type: application/json' -d @ml/serving/sample_request.json",
        "```",
        "",
        'The body is `{"rows": [{<feature name>: <number>, ...}, ...]}`; the answer is one '
        '`{"label", "probability"}` per row. Health: `/livez`, `/readyz`; metrics: `/metrics`. '
        f"Container image: `make image BENTO={facts.bento_tag}` (buildah, podman or docker).",
        "",
    ]


def render(facts: CardFacts) -> str:
    sections = (_purpose, _data_and_model, _lineage, _serving)
    return "\n".join(line for section in sections for line in section(facts))
