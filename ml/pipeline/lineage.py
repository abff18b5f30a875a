"""What a bento records about where it came from: the data in dvc.lock, the sources' last
commit, and the params and metrics as Kubernetes-valid labels."""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ml.core.identity import load_identity, slug
from ml.core.params import Params
from ml.core.report_file import read_json_report

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

    Any change to a tracked file counts. A new file counts only when it is a Python module: like
    `git describe --dirty` and setuptools-scm, new files are left out, but the bento carries every
    module of its packages and a stage run from the repository imports any module there. Other
    new files (a `dvc plots` page, a scratch note) cannot reach the bento; ignored ones never count.
    """
    excluded = [f":(exclude){path}" for path in ("dvc.lock", *generated)]

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
        except OSError:  # no git: no commit to name
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    source = git("log", "-1", "--format=%H", "--", ".", *excluded)
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", *excluded)
    new_modules = git("ls-files", "--others", "--exclude-standard", "--", "*.py", *excluded)
    if not source or changed is None or new_modules is None or changed or new_modules:
        return UNCOMMITTED
    return source


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
