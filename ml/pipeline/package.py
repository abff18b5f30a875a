"""Stage 6, package: the trained model goes into BentoML's store and a bento is built around it.

    python -m ml.pipeline.package [--model PATH] [--metrics PATH] [--dvc-lock PATH] [--reports DIR]

The bento (ml/serving/service.py, the ml modules it imports, params.yaml, exact package pins)
carries its lineage as labels: the git commit ("uncommitted" when the working tree has changes
outside the pipeline's own outputs, or has no commit), the md5 of the ingested data from dvc.lock,
the parameters and metrics, the device the model trained on (`trained-on: cpu` or `cuda`), and the
cost-allocation labels of ml/core/identity.py. The same facts go to reports/bento.json (bento tag,
model tag, labels) and reports/model_card.md.

Labels are valid Kubernetes label keys and values (63 characters, alphanumerics and `-_.`), so
they can follow the bento onto the cluster and the cost reports unchanged.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import joblib

from ml.core.identity import load_identity
from ml.core.params import Params, stage_params
from ml.core.paths import (
    BENTO_INFO_FILE,
    DVC_LOCK,
    METRICS_FILE,
    MODEL_CARD_FILE,
    MODEL_FILE,
    REPO_ROOT,
    REPORTS_DIR,
    use_repo_bentoml_home,
)
from ml.pipeline.bento_build import (
    bento_sources,
    build_bento,
    content_version,
    pinned_packages,
    store_model,
)
from ml.pipeline.device import trained_on
from ml.pipeline.lineage import (
    PackageError,
    data_record,
    file_md5,
    git_commit,
    lineage_labels,
    pipeline_outputs,
    read_lock,
    read_metrics,
)
from ml.pipeline.model_card import CardFacts, render

# The label naming the device the model trained on, on the bento and on its model.
TRAINED_ON = "trained-on"


def package(
    params: Params,
    model_file: Path = MODEL_FILE,
    metrics_file: Path = METRICS_FILE,
    lock_file: Path = DVC_LOCK,
    reports_dir: Path = REPORTS_DIR,
) -> dict[str, Any]:
    """Store the model, build the bento, write bento.json and the model card; returns the record."""
    use_repo_bentoml_home()
    name = params.package.model_name
    metrics = read_metrics(metrics_file)
    lock = read_lock(lock_file)
    data = data_record(lock, params.ingest.output)
    commit = git_commit(REPO_ROOT, pipeline_outputs(lock))
    model_md5 = file_md5(model_file)
    model = joblib.load(model_file)
    device = trained_on(model)
    labels = {**lineage_labels(params, metrics, commit, data, model_md5), TRAINED_ON: device}
    cost_labels = load_identity().cost_labels()

    model_labels = {**cost_labels, "model-md5": model_md5, "data-md5": data.md5, TRAINED_ON: device}
    model_tag = store_model(model, name, model_md5, model_labels)
    sources = {path: file_md5(REPO_ROOT / path) for path in bento_sources()}
    packages = pinned_packages(model)
    bento_tag = f"{name}:{content_version(model_tag, labels, sources, packages)}"
    card = render(
        CardFacts(
            model_name=name,
            bento_tag=bento_tag,
            model_tag=model_tag,
            model_params=params.train.model.model_dump(mode="json"),
            trained_on=device,
            metrics=metrics,
            thresholds=params.evaluate.thresholds.model_dump(),
            git_commit=commit,
            data_path=data.path,
            data_md5=data.md5,
            data_bytes=data.size,
            cost_labels=cost_labels,
        )
    )
    build_bento(bento_tag, model_tag, labels, card, packages)
    record = {"bento": bento_tag, "model": model_tag, "labels": dict(sorted(labels.items()))}
    reports_dir.mkdir(parents=True, exist_ok=True)
    info = json.dumps(record, indent=2) + "\n"
    (reports_dir / BENTO_INFO_FILE.name).write_text(info, encoding="utf-8")
    (reports_dir / MODEL_CARD_FILE.name).write_text(card, encoding="utf-8")
    return record


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=MODEL_FILE)
    parser.add_argument("--metrics", type=Path, default=METRICS_FILE)
    parser.add_argument("--dvc-lock", type=Path, default=DVC_LOCK)
    parser.add_argument("--reports", type=Path, default=REPORTS_DIR)
    options = parser.parse_args(argv)
    params = stage_params()
    try:
        record = package(params, options.model, options.metrics, options.dvc_lock, options.reports)
    except PackageError as error:
        raise SystemExit(f"package: {error}") from None
    print(f"package: built bento {record['bento']} (model {record['model']})")


if __name__ == "__main__":
    main()
