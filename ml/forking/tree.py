"""Reading the project tree: the files a rename visits, and the identity they spell now.

The old identity is whatever the tree says it is (params.yaml's `identity`, Pulumi.yaml's `name`,
the stacks' `aws:region`), so renaming twice works the same way.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ml.forking.values import FIELD_NAMES, InitError, ProjectIdentity
from ml.forking.yaml_keys import read_keys

PARAMS_FILE = "params.yaml"
PULUMI_PROJECT_FILE = "Pulumi.yaml"
STACK_FILE = re.compile(r"^Pulumi\.[A-Za-z0-9_.-]+\.yaml$")
# Must match `_answers_file` in copier.yml.
COPIER_ANSWERS_FILE = ".copier/answers.yml"
CODEOWNERS_FILES = ("CODEOWNERS", ".github/CODEOWNERS", "docs/CODEOWNERS")
ENVIRONMENT_KEY = "environment"

SKIP_DIRS = frozenset(
    {
        ".git",
        ".venv",
        ".bentoml",
        ".pulumi",
        ".pytest_cache",
        ".ruff_cache",
        "__pycache__",
        "node_modules",
    }
)
SKIP_PATHS = frozenset({".dvc/cache", ".dvc/tmp"})


@dataclass(frozen=True)
class CurrentIdentity:
    """The identity the tree has now; a Pulumi name or stack region may disagree with params."""

    identity: ProjectIdentity
    pulumi_name: str | None
    stack_regions: tuple[str, ...]
    environments: tuple[str, ...]
    # copier's record of the name; during `copier update` it already holds the project's own.
    answered_name: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        spelled = (self.identity.name, self.pulumi_name, self.answered_name)
        return tuple(dict.fromkeys(n for n in spelled if n))


def stack_files(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("Pulumi.*.yaml") if STACK_FILE.match(p.name))


def read_current(root: Path) -> CurrentIdentity:
    params = root / PARAMS_FILE
    if not params.is_file():
        raise InitError(f"{params}: not found; run this from the project's root")
    keys = read_keys(params.read_text(encoding="utf-8"), "identity")
    missing = [k for _, _, k in FIELD_NAMES.values() if k and not keys.get(k)]
    if missing:
        raise InitError(f"{PARAMS_FILE}: identity.{missing[0]} is missing; it names the project")
    pulumi_file = root / PULUMI_PROJECT_FILE
    pulumi_name = None
    if pulumi_file.is_file():
        pulumi_name = read_keys(pulumi_file.read_text(encoding="utf-8")).get("name")
    regions, environments = [], []
    for stack in stack_files(root):
        config = read_keys(stack.read_text(encoding="utf-8"), "config")
        regions += [config["aws:region"]] if config.get("aws:region") else []
        environments += [v for k, v in config.items() if k.endswith(f":{ENVIRONMENT_KEY}")]
    identity = ProjectIdentity(
        name=keys["project"],
        team=keys["team"],
        cost_center=keys["cost-center"],
        region=regions[0] if regions else "",
        repository=keys["repository"],
    )
    answers = root / COPIER_ANSWERS_FILE
    answered = None
    if answers.is_file():
        answered = read_keys(answers.read_text(encoding="utf-8")).get(FIELD_NAMES["name"][1])
    return CurrentIdentity(
        identity,
        pulumi_name,
        tuple(dict.fromkeys(regions)),
        tuple(dict.fromkeys(environments)),
        answered,
    )


def _git(root: Path, *args: str) -> str | None:
    """git's stdout, or None when `root` is not in a git work tree (or git is missing)."""
    try:
        result = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        return None
    return result.stdout if result.returncode == 0 else None


def project_files(root: Path) -> list[str]:
    """Tracked and untracked-but-not-ignored files; every file when `root` is not in git
    (copier renders into plain folders before it commits anything)."""
    listed = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    if listed is not None:
        names = sorted({n for n in listed.split("\0") if n})
        return [n for n in names if (root / n).is_file() and not (root / n).is_symlink()]
    found = []
    for folder, dirs, files in os.walk(root):
        relative = Path(folder).relative_to(root)
        dirs[:] = [
            d
            for d in dirs
            if d not in SKIP_DIRS
            and not d.endswith(".egg-info")
            and (relative / d).as_posix() not in SKIP_PATHS
        ]
        found.extend(
            (relative / f).as_posix() for f in files if not (Path(folder) / f).is_symlink()
        )
    return sorted(found)


def dirty_files(root: Path) -> list[str] | None:
    status = _git(root, "status", "--porcelain", "--untracked-files=normal", "--", ".")
    return None if status is None else [line[3:] for line in status.splitlines() if line]


def read_text(path: Path) -> str | None:
    """The file as text, or None for binary files (they are left alone)."""
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
