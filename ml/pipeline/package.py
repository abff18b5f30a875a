"""Stage 6, package: the trained model goes into BentoML's store and a bento is built around it.

    python -m ml.pipeline.package [--model PATH] [--metrics PATH] [--dvc-lock PATH] [--reports DIR]

The bento (ml/serving/service.py, the ml modules it imports, params.yaml, exact package pins) carries
its lineage as labels: the git commit ("uncommitted" when the working tree has changes outside
the pipeline's own outputs, or has no commit), the md5 of the ingested data from dvc.lock, the
parameters and metrics, and the cost-allocation labels of ml/core/identity.py. The same facts go to
reports/bento.json (bento tag, model tag, labels) and reports/model_card.md.

Labels are valid Kubernetes label keys and values (63 characters, alphanumerics and `-_.`), so
they can follow the bento onto the cluster and the cost reports unchanged.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import yaml

from ml.core.identity import load_identity, slug
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
from ml.core.report_file import read_json_report
from ml.pipeline.model_card import CardFacts, render

SERVICE = "ml.serving.service:Classifier"
SERVICE_FILE = REPO_ROOT / "ml" / "serving" / "service.py"
# The in-cluster drift CronJob runs `python -m ml.monitoring.drift` from the same image.
DRIFT_FILE = REPO_ROOT / "ml" / "monitoring" / "drift.py"
# The packages the bento carries whole (dvc.yaml's package stage depends on these folders), and
# what the service reads at startup besides them.
BUNDLED_PACKAGES = ("ml/core", "ml/serving", "ml/monitoring")
DATA_FILES = ("ml/__init__.py", "params.yaml")
# What the service and the drift check need at runtime besides bentoml (which BentoML pins
# itself); the prediction log serializes with orjson and writes to S3 with boto3, drift reads with pandas.
PACKAGES = (
    "scikit-learn",
    "scipy",
    "numpy",
    "joblib",
    "pydantic",
    "pyyaml",
    "orjson",
    "boto3",
    "pandas",
    "prometheus-client",
)
# The sections that made the model or shape the service; identity travels as the cost labels.
LABELLED_SECTIONS = ("ingest", "validate", "prepare", "train", "package", "serve")
UNCOMMITTED = "uncommitted"
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")


class PackageError(RuntimeError):
    """An input of the package stage is missing or wrong; the message says which and why."""


@dataclass(frozen=True)
class DataRecord:
    path: str
    md5: str
    size: int | None


# --- lineage --------------------------------------------------------------------------------


def read_lock(path: Path) -> dict[str, Any]:
    try:
        lock = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PackageError(f"{path.name} not found: run `dvc repro` (make repro)") from None
    if not isinstance(lock, dict) or not isinstance(lock.get("stages"), dict):
        raise PackageError(f"{path.name}: no `stages` mapping; rerun `dvc repro`")
    return lock


def _outs(lock: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    for stage in lock["stages"].values():
        yield from (stage or {}).get("outs") or []


def data_record(lock: Mapping[str, Any], data_path: str) -> DataRecord:
    """The ingested table as dvc.lock recorded it: the output of the stage that writes it."""
    for out in _outs(lock):
        if out.get("path") == data_path and out.get("md5"):
            return DataRecord(data_path, str(out["md5"]), out.get("size"))
    raise PackageError(f"dvc.lock records no md5 for {data_path}: run `dvc repro` first")


def pipeline_outputs(lock: Mapping[str, Any]) -> list[str]:
    return sorted({str(out["path"]) for out in _outs(lock) if out.get("path")})


def git_commit(repo: Path, generated: Iterable[str] = ()) -> str:
    """The last commit of the sources, or "uncommitted" when the tree differs from it or has none.

    `generated` (dvc.lock and the pipeline's outputs) is left out: `dvc repro` itself rewrites
    those while this stage runs, and they are what the commit's code and params produce. For the
    same reason the commit named is the last one that changed anything else: committing the
    outputs of a build does not change the commit the next build (say, a fresh clone's) names.
    """
    excluded = [f":(exclude){path}" for path in ("dvc.lock", *generated)]

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
        except OSError:  # no git: no commit to name
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    source = git("log", "-1", "--format=%H", "--", ".", *excluded)
    status = git("status", "--porcelain", "--", ".", *excluded)
    if not source or status is None or status:
        return UNCOMMITTED
    return source


# --- labels ---------------------------------------------------------------------------------


def label_key(key: str) -> str:
    cleaned = slug(key)
    if not _LABEL.match(cleaned):
        raise PackageError(f"cannot make a label key of {key!r}")
    return cleaned


def label_value(key: str, value: Any) -> str:
    if value is None:
        text = "none"
    elif isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, list | tuple):
        text = "_".join(str(item) for item in value) or "none"
    else:
        text = str(value)
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if not _LABEL.match(text) and not numeric:
        text = slug(text)  # a path or a name: its separators become dashes
    if not _LABEL.match(text):
        raise PackageError(f"label {key}: {value!r} is not a valid label value")
    return text


def flatten(mapping: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}.{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat


def lineage_labels(
    params: Params, metrics: Mapping[str, float], commit: str, data: DataRecord, model_md5: str
) -> dict[str, str]:
    """Every label of the bento: lineage, parameters, metrics, cost allocation."""
    sections = params.model_dump(mode="json", by_alias=True)
    raw: dict[str, Any] = {
        "git-commit": commit,
        "data-md5": data.md5,
        "model-md5": model_md5,
        **flatten({name: sections[name] for name in LABELLED_SECTIONS}, "params"),
        **flatten(dict(metrics), "metrics"),
    }
    labels = {label_key(key): label_value(key, value) for key, value in raw.items()}
    return {**labels, **load_identity().cost_labels()}


# --- inputs ---------------------------------------------------------------------------------


def read_metrics(path: Path) -> dict[str, float]:
    metrics = read_json_report(path, PackageError, "`dvc repro` (the evaluate stage)")
    if not isinstance(metrics, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in metrics.values()
    ):
        raise PackageError(f"{path.name}: expected an object of metric name -> number")
    return {str(name): float(value) for name, value in metrics.items()}


def file_md5(path: Path) -> str:
    try:
        return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
    except FileNotFoundError:
        raise PackageError(f"{path} not found: run `dvc repro` (the train stage)") from None


def _imported_names(tree: ast.AST) -> Iterable[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            # `from package import module` names a module too.
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def local_imports(module_file: Path, root: Path = REPO_ROOT) -> set[Path]:
    """The module and every module of this repository it imports, directly or not."""
    found: set[Path] = set()
    pending = [module_file]
    while pending:
        path = pending.pop()
        if path in found:
            continue
        found.add(path)
        for name in _imported_names(ast.parse(path.read_text(encoding="utf-8"))):
            parts = name.split(".")
            packages = (root.joinpath(*parts[:n], "__init__.py") for n in range(1, len(parts) + 1))
            candidates = [root.joinpath(*parts).with_suffix(".py"), *packages]
            pending += [candidate for candidate in candidates if candidate.is_file()]
    return found


def bento_sources() -> list[str]:
    """The bundled packages' modules and the data files; every module they import is among them."""
    modules = {
        path.relative_to(REPO_ROOT).as_posix()
        for package in BUNDLED_PACKAGES
        for path in (REPO_ROOT / package).rglob("*.py")
    }
    imported = local_imports(SERVICE_FILE) | local_imports(DRIFT_FILE)
    missing = {path.relative_to(REPO_ROOT).as_posix() for path in imported} - modules
    if missing - set(DATA_FILES):
        raise PackageError(
            f"the service or the drift check imports {', '.join(sorted(missing))}, outside the "
            f"packages the bento carries ({', '.join(BUNDLED_PACKAGES)})"
        )
    return sorted([*modules, *DATA_FILES])


def pinned_packages() -> list[str]:
    return [f"{name}=={version(name)}" for name in PACKAGES]


# --- BentoML --------------------------------------------------------------------------------

# Versions are digests of their inputs: packaging the same inputs again gives the same tags, so
# a rerun (or a fresh clone rebuilding its store) leaves bento.json and the model card unchanged.
VERSION_LENGTH = 16


def content_version(*parts: Any) -> str:
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()
    return digest[:VERSION_LENGTH]


def store_model(model_file: Path, name: str, md5: str, labels: Mapping[str, str]) -> str:
    """The model's tag in BentoML's store, saving it unless this exact file is already there."""
    import bentoml
    import joblib
    from bentoml.exceptions import NotFound

    tag = f"{name}:{md5[:VERSION_LENGTH]}"
    try:
        return str(bentoml.models.get(tag).tag)
    except NotFound:
        pass
    model = bentoml.sklearn.save_model(
        tag,
        joblib.load(model_file),
        labels=dict(labels),
        signatures={"predict_proba": {"batchable": True}},
    )
    return str(model.tag)


def build_bento(tag: str, model_tag: str, labels: Mapping[str, str], card: str) -> str:
    """Build the bento `tag` unless the store has it already (same inputs, same bento)."""
    import bentoml
    from bentoml.exceptions import NotFound

    name, version = tag.split(":", 1)
    try:
        return str(bentoml.get(tag).tag)
    except NotFound:
        pass
    # A build context holding only the bento's sources: BentoML walks its whole context, which
    # in the repository would mean .venv and the store the bento is being written to.
    with tempfile.TemporaryDirectory(prefix="bento-context-") as context:
        for source in bento_sources():
            target = Path(context, source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO_ROOT / source, target)
        bento = bentoml.bentos.build(
            SERVICE,
            name=name,
            version=version,
            labels=dict(labels),
            description=card,
            python={"packages": pinned_packages(), "lock_packages": False},
            # The alias pins the exact model: ml/serving/service.py loads it by name, which a served
            # bento resolves to this version, and a source checkout to the latest one.
            models=[{"tag": model_tag, "alias": name}],
            build_ctx=context,
        )
    return str(bento.tag)


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
    labels = lineage_labels(params, metrics, commit, data, model_md5)
    cost_labels = load_identity().cost_labels()

    model_labels = {**cost_labels, "model-md5": model_md5, "data-md5": data.md5}
    model_tag = store_model(model_file, name, model_md5, model_labels)
    sources = {path: file_md5(REPO_ROOT / path) for path in bento_sources()}
    bento_tag = f"{name}:{content_version(model_tag, labels, sources, pinned_packages())}"
    card = render(
        CardFacts(
            model_name=name,
            bento_tag=bento_tag,
            model_tag=model_tag,
            model_params=params.train.model.model_dump(mode="json"),
            metrics=metrics,
            thresholds=params.evaluate.thresholds.model_dump(),
            git_commit=commit,
            data_path=data.path,
            data_md5=data.md5,
            data_bytes=data.size,
            cost_labels=cost_labels,
        )
    )
    build_bento(bento_tag, model_tag, labels, card)
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
