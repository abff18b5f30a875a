"""Building the bento: the sources it carries, its pinned packages, the model in BentoML's store.

Versions are digests of their inputs, so packaging the same inputs again gives the same tags.
"""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

from ml.core.artifacts import DRIFT_MODULE
from ml.core.paths import REPO_ROOT
from ml.pipeline.lineage import PackageError

SERVICE = "ml.serving.service:Classifier"
SERVICE_FILE = REPO_ROOT / "ml" / "serving" / "service.py"
# The in-cluster drift CronJob runs `python -m ml.monitoring.drift` from the same image.
DRIFT_FILE = REPO_ROOT.joinpath(*DRIFT_MODULE.split(".")).with_suffix(".py")
# The packages the bento carries whole (dvc.yaml's package stage depends on these folders), and
# what the service reads at startup besides them.
BUNDLED_PACKAGES = ("ml/core", "ml/serving", "ml/monitoring")
DATA_FILES = ("ml/__init__.py", "params.yaml")
# What the service and the drift check need at runtime besides bentoml (which BentoML pins itself);
# the prediction log serializes with orjson and writes to S3 with boto3, drift reads with pandas.
PACKAGES = (
    "scikit-learn",
    "scipy",
    "numpy",
    "joblib",
    "pydantic",
    "pyyaml",
    "orjson",
    # uvicorn (BentoML's server) runs on these when installed: its event loop and parser in C.
    "uvloop",
    "httptools",
    "boto3",
    "pandas",
    "prometheus-client",
)
# A model's own library beyond those, by the package its class comes from: only an xgboost
# model's bento carries xgboost (and, on Linux, the CUDA libraries pip installs with it).
MODEL_PACKAGES = {"xgboost": ("xgboost",)}


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


def pinned_packages(model: object) -> list[str]:
    """The bento's requirements for `model`, each at the version installed here."""
    framework = type(model).__module__.partition(".")[0]
    names = (*PACKAGES, *MODEL_PACKAGES.get(framework, ()))
    return [f"{name}=={version(name)}" for name in names]


# Versions are digests of their inputs: packaging the same inputs again gives the same tags, so
# a rerun (or a fresh clone rebuilding its store) leaves bento.json and the model card unchanged.
VERSION_LENGTH = 16


def content_version(*parts: Any) -> str:
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()
    return digest[:VERSION_LENGTH]


def store_model(model: object, name: str, md5: str, labels: Mapping[str, str]) -> str:
    """The model's tag in BentoML's store, saving it unless a model of this md5 is there."""
    import bentoml
    from bentoml.exceptions import NotFound

    tag = f"{name}:{md5[:VERSION_LENGTH]}"
    try:
        return str(bentoml.models.get(tag).tag)
    except NotFound:
        pass
    stored = bentoml.sklearn.save_model(
        tag, model, labels=dict(labels), signatures={"predict_proba": {"batchable": True}}
    )
    return str(stored.tag)


def build_bento(
    tag: str, model_tag: str, labels: Mapping[str, str], card: str, packages: list[str]
) -> str:
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
            python={"packages": packages, "lock_packages": False},
            # The alias pins the exact model: ml/serving/service.py loads it by name, which a served
            # bento resolves to this version, and a source checkout to the latest one.
            models=[{"tag": model_tag, "alias": name}],
            build_ctx=context,
        )
    return str(bento.tag)
