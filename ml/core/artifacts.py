"""What the shipping steps share: the bento being shipped, the artifacts bucket, the job summary.

`make publish`, `make image`, `make rollout-check` and `make rollout-record` run locally and in
.github/workflows/deploy.yml alike; each reads its inputs from the same places, in this order:
a command-line flag, then an environment variable (CI fills it from `pulumi stack output`), then
the pipeline's own record (reports/bento.json, written by the package stage).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ml.core.paths import BENTO_INFO_FILE, TRAIN_FILE
from ml.core.report_file import read_json_report

# The model registry's layout in the artifacts bucket (ml/release/publish.py writes it).
REGISTRY_PREFIX = "bentos"
REFERENCE_PREFIX = "reference"


def archive_key(name: str, version: str) -> str:
    return f"{REGISTRY_PREFIX}/{name}/{version}.bento"


def index_key(name: str, version: str) -> str:
    return f"{REGISTRY_PREFIX}/{name}/{version}.json"


def reference_key(name: str, version: str) -> str:
    """Where the training rows of a published bento live (the drift check's reference)."""
    return f"{REFERENCE_PREFIX}/{name}/{version}/{TRAIN_FILE.name}"


def model_key(name: str, version: str) -> str:
    """The model file of a published bento (the champion a candidate is compared with)."""
    return f"{REGISTRY_PREFIX}/{name}/{version}/model.joblib"


def sbom_key(name: str, version: str) -> str:
    """The CycloneDX SBOM of a published bento's image."""
    return f"{REGISTRY_PREFIX}/{name}/{version}/sbom.cdx.json"


# Registry stages: each alias names one version of a model, moved by one conditional write.
# `candidate` is what CI last published, `staging` what dev runs, `production` what prod runs.
ALIASES_PREFIX = "aliases"
ALIASES = ("candidate", "staging", "production")


def alias_key(name: str, alias: str) -> str:
    """The alias's current record: JSON with at least `version` (the bento tag's version) and
    `previous` (the version it pointed to before, or null)."""
    return f"{ALIASES_PREFIX}/{name}/{alias}.json"


def alias_history_prefix(name: str, alias: str) -> str:
    """Every move of the alias, one object per move, oldest first by key."""
    return f"{ALIASES_PREFIX}/{name}/{alias}/history/"


def split_tag(tag: str) -> tuple[str, str]:
    name, sep, version = tag.partition(":")
    if not (name and sep and version) or version == "latest":
        raise ShipError(f"bento tag {tag!r} must be NAME:VERSION with a concrete version")
    return name, version


# The module the drift CronJob runs (`python -m`) in the bento's image. An image holds the layout
# of the commit it was built from, so a stack records which module its image has
# (serving.driftModule, set with the image); images from before the packages have the flat one.
DRIFT_MODULE = "ml.monitoring.drift"
FLAT_LAYOUT_DRIFT_MODULE = "ml.drift"

BUCKET_ENV = "ARTIFACTS_BUCKET"
SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


class ShipError(RuntimeError):
    """A shipping step cannot go on; the message says what is missing and how to provide it."""


def bento_report(path: Path = BENTO_INFO_FILE) -> dict[str, Any]:
    """reports/bento.json: the bento tag, the model tag and the labels of the last package run."""
    report = read_json_report(path, ShipError, "`make repro` (the package stage)")
    if not isinstance(report, dict) or not isinstance(report.get("bento"), str):
        raise ShipError(f"{path.name}: missing the `bento` tag; rerun the package stage")
    return report


def bento_tag(explicit: str | None = None) -> str:
    """The bento to ship: the one named, else the last one the package stage built."""
    return explicit or bento_report()["bento"]


def artifacts_bucket(explicit: str | None = None) -> str:
    bucket = explicit or os.environ.get(BUCKET_ENV, "")
    if not bucket:
        raise ShipError(
            f"no artifacts bucket: pass --bucket or set {BUCKET_ENV} "
            "(`pulumi stack output artifactsBucket` names the stack's)"
        )
    return bucket


def run_url() -> str | None:
    """The GitHub Actions run this process belongs to, or None outside one."""
    keys = ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    server, repository, run_id = (os.environ.get(key) for key in keys)
    if not (server and repository and run_id):
        return None
    return f"{server}/{repository}/actions/runs/{run_id}"


def write_summary(markdown: str) -> None:
    """Append to the GitHub Actions job summary when running there; a no-op elsewhere."""
    target = os.environ.get(SUMMARY_ENV)
    if target:
        with Path(target).open("a", encoding="utf-8") as summary:
            summary.write(markdown.rstrip() + "\n\n")
