"""What the tests of `make init` and copier share: the identities they rename between, and
helpers to make, run and read a copy of this tree.

The identity they rename from is read from the tree (never written here), so the suite passes in
forks.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import astuple, replace
from pathlib import Path

import pytest
import yaml
from jinja2.sandbox import SandboxedEnvironment

from ml.core.paths import REPO_ROOT
from ml.forking.init_project import main
from ml.forking.prices import PRICE_TABLE
from ml.forking.rename import spellings
from ml.forking.tree import COPIER_ANSWERS_FILE, read_current
from ml.forking.values import (
    AWS_REGIONS,
    FIELD_NAMES,
    ProjectIdentity,
)
from tests.support.repo import tool_env

CURRENT = read_current(REPO_ROOT)
OLD = CURRENT.identity
# The names are joined at run time: spelled out here, they would be words of the tree, which
# init refuses as new names (a later rename could not tell them apart).
CANDIDATES = (
    ProjectIdentity(
        "-".join(("churn", "forecast")), "growth", "cc-4242", "eu-west-1", "example-org/churn"
    ),
    ProjectIdentity(
        "-".join(("basket", "ranker")), "retail", "4711", "ap-southeast-2", "shop-co/ranking"
    ),
    ProjectIdentity(
        "-".join(("fleet", "telemetry")), "ops.data", "OPS_77", "ca-central-1", "fleet/telemetry"
    ),
)


def unlike(*others: ProjectIdentity) -> ProjectIdentity:
    """A candidate sharing no value (nor a name inside another) with `others`: this tree may
    itself be a fork named like one of them."""

    def apart(a: ProjectIdentity, b: ProjectIdentity) -> bool:
        return all(x not in y and y not in x for x, y in zip(astuple(a), astuple(b), strict=True))

    return next(c for c in CANDIDATES if all(apart(c, other) for other in others))


NEW = unlike(OLD)
NEWER = unlike(OLD, NEW)
# `make init` variables, in ProjectIdentity's field order.
MAKE_VARS = ("NAME", "TEAM", "COST_CENTER", "REGION", "GITHUB_REPO")
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
GIT += ["-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"]


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        [*GIT, *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout


def tree_files(root: Path) -> list[str]:
    listed = git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    return sorted(n for n in set(listed.split("\0")) if n and (root / n).is_file())


def args_for(identity: ProjectIdentity) -> list[str]:
    """`--option=value` for each field (so a value may start with a hyphen)."""
    return [f"{option}={getattr(identity, field)}" for field, (option, _, _) in FIELD_NAMES.items()]


def init(root: Path, identity: ProjectIdentity, *extra: str) -> int:
    return main([*args_for(identity), "--root", str(root), *extra])


def snapshot(root: Path) -> dict[str, bytes]:
    return {n: (root / n).read_bytes() for n in tree_files(root)}


def old_spellings(identity: ProjectIdentity) -> list[str]:
    return [*spellings(identity.name).values(), identity.repository]


def stale(root: Path, identity: ProjectIdentity) -> list[str]:
    """`file: spelling` for every file that still spells the given identity's name or repo."""
    found = []
    for name in tree_files(root):
        text = (root / name).read_bytes().decode("utf-8", errors="replace")
        found += [f"{name}: {s}" for s in old_spellings(identity) if s in text]
    return found


def git_grep(root: Path, value: str) -> set[str]:
    """The committed files that hold `value`, in any case (`git grep -i`)."""
    found = subprocess.run(
        ["git", "grep", "-i", "-l", "-F", "-e", value], cwd=root, capture_output=True, text=True
    )
    assert found.returncode in (0, 1), found.stderr
    return set(found.stdout.split())


def keyed(value: str) -> re.Pattern[str]:
    """`value` where a team or cost-center key holds it (YAML, JSON, a Markdown table row)."""
    return re.compile(
        rf"(?i)\b(?:team|cost[-_]?center)\b[\\\"' \t:=|]+{re.escape(value)}(?![\w.-])"
    )


def dvc_status(root: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "dvc", "status", "--json"],
        cwd=root,
        env=tool_env(root),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def with_value(field: str, value: str) -> ProjectIdentity:
    return replace(NEW, **{field: value})


COPIER = yaml.safe_load((REPO_ROOT / "copier.yml").read_text())
ANSWERS_TEMPLATE = REPO_ROOT / (COPIER_ANSWERS_FILE + COPIER["_templates_suffix"])
# copier renders the answers template away: a project it made is no template for these tests.
copier_template_only = pytest.mark.skipif(
    not ANSWERS_TEMPLATE.is_file(), reason="a project made by copier holds no answers template"
)
# The Jinja environment copier renders questions with.
JINJA = SandboxedEnvironment(extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"])


def copier_verdict(question: str, value: str) -> bool:
    return not JINJA.from_string(COPIER[question]["validator"]).render({question: value}).strip()


def copier_data(identity: ProjectIdentity) -> dict[str, str]:
    return {question: getattr(identity, field) for field, (_, question, _) in FIELD_NAMES.items()}


def priced_regions(root: Path) -> set[str]:
    return set(yaml.safe_load((root / PRICE_TABLE).read_text())["regions"])


def unpriced(root: Path) -> ProjectIdentity:
    """NEW, moved to a region the price table has no prices for."""
    region = next(r for r in AWS_REGIONS if r not in priced_regions(root) | {OLD.region})
    return replace(NEW, region=region)


def no_prices(region: str) -> str:
    return (
        f"No prices for {region} yet: run `make prices REGION={region}` with AWS credentials "
        "before `make cost`.\n"
    )
