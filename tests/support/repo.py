"""Real DVC runs in copies of the repository.

A copy holds the working tree's source files (tracked, or new and not ignored) without generated
outputs, is its own git repository, and runs the same `dvc`/`python` as the tests, with BentoML's
home inside the copy.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from ml.core.paths import REPO_ROOT

# The environment running the tests; its bin folder has `python`, `dvc` and `bentoml`.
BIN = Path(sys.executable).parent
# Pipeline results a copy leaves out so its pipeline starts from nothing (git already ignores
# the environment: .venv, .bentoml, DVC's cache).
GENERATED = ("data/", "models/", "reports/", "dvc.lock")
# What the pipeline writes: data and model in DVC's cache, reports committed to git.
CACHED = ("data/raw/breast_cancer.csv", "data/prepared/train.csv", "data/prepared/test.csv")
CACHED += ("models/model.joblib",)
PLOTS = ("reports/plots/roc.csv", "reports/plots/precision_recall.csv")
PLOTS += ("reports/plots/confusion.csv",)
REPORTS = ("reports/validation.json", "reports/metrics.json", *PLOTS)
UP_TO_DATE = "Data and pipelines are up to date."


def source_files(root: Path = REPO_ROOT) -> list[str]:
    """The working tree's files as git sees them: tracked, or new and not ignored."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [
        name
        for name in listing.split("\0")
        if name and not name.startswith(GENERATED) and (root / name).is_file()
    ]


def copy_repo(dest: Path, files: Sequence[str] | None = None) -> Path:
    for name in source_files() if files is None else files:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, target)
    return dest


def tool_env(root: Path) -> dict[str, str]:
    """The copy's environment: its own BentoML home; DVC blind to the user's config and with its
    site cache (index, locks) next to the copy, so nothing leaks out of the temporary folder."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    beside = root.parent
    return env | {
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "BENTOML_HOME": str(root / ".bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(beside / "dvc-site-cache"),
        "DVC_GLOBAL_CONFIG_DIR": str(beside / "dvc-global-config"),
        "DVC_SYSTEM_CONFIG_DIR": str(beside / "dvc-system-config"),
        "GIT_AUTHOR_NAME": "Pipeline Test",
        "GIT_AUTHOR_EMAIL": "pipeline-test@example.com",
        "GIT_COMMITTER_NAME": "Pipeline Test",
        "GIT_COMMITTER_EMAIL": "pipeline-test@example.com",
    }


@dataclass
class RepoCopy:
    """A copy of the repository with helpers to run commands in it."""

    root: Path
    env: dict[str, str]

    def run(
        self, *args: str | Path, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(arg) for arg in args],
            cwd=self.root,
            env=self.env | (env or {}),
            capture_output=True,
            text=True,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(f"{args} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(BIN / "dvc", *args, check=check)

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("git", "-c", "commit.gpgsign=false", *args, check=check)

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)

    def read(self, name: str) -> bytes:
        return (self.root / name).read_bytes()


def fingerprints(repo: RepoCopy, names: tuple[str, ...] = CACHED + REPORTS) -> dict[str, str]:
    return {name: hashlib.sha256(repo.read(name)).hexdigest() for name in names}


def new_repo(root: Path, files: Sequence[str] | None = None) -> RepoCopy:
    """A committed copy of the working tree at `root`."""
    repo = RepoCopy(copy_repo(root, files), tool_env(root))
    repo.git("init", "-q", "-b", "main")
    repo.commit("source")
    return repo


def clone_repo(source: RepoCopy, root: Path) -> RepoCopy:
    """A full copy of `source`: git history, DVC cache and outputs (not the BentoML store)."""
    shutil.copytree(source.root, root, symlinks=True, ignore=shutil.ignore_patterns(".bentoml"))
    return RepoCopy(root, tool_env(root))


@dataclass
class PipelineRun:
    repo: RepoCopy
    output: str
