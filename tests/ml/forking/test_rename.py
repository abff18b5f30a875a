"""`make init` renames a copy: what it rewrites, and what it leaves as it was."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest
import yaml

from ml.core.identity import load_identity
from ml.core.paths import REPO_ROOT
from ml.forking.records import RECORD_FILES
from ml.forking.rename import sweep_pattern
from ml.forking.tree import read_current, stack_files
from tests.ml.forking.renaming import (
    NEW,
    NEWER,
    OLD,
    git_grep,
    init,
    keyed,
    old_spellings,
    snapshot,
    stale,
)


def test_init_leaves_no_trace_of_the_old_name(renamed: Path) -> None:
    assert stale(renamed, OLD) == []


def test_no_committed_file_names_the_old_project(renamed: Path) -> None:
    for value in old_spellings(OLD):
        assert git_grep(renamed, value) == set(), value


def test_no_committed_file_keeps_the_old_team_or_cost_center(template: Path, renamed: Path) -> None:
    """params.yaml and the pipeline's records (dvc.lock, bento.json, the model card) say the new
    labels. Under tests/ hand-written fixtures and example addresses keep theirs: no code reads
    them as the project's. Elsewhere the value may stay only as an unrelated word the tree
    already had (a fork's team may be a common word; in the template there is none)."""
    for value in (OLD.team, OLD.cost_center):
        before = {f for f in git_grep(template, value) if not f.startswith("tests/")}
        carried = {f for f in before if keyed(value).search((template / f).read_text())}
        assert {"params.yaml", *RECORD_FILES} <= carried, value
        after = {f for f in git_grep(renamed, value) if not f.startswith("tests/")}
        assert after <= before - carried, value


def test_init_writes_the_new_identity_to_params(renamed: Path) -> None:
    identity = load_identity(renamed / "params.yaml")
    assert (identity.project, identity.team, identity.cost_center, identity.repository) == (
        NEW.name,
        NEW.team,
        NEW.cost_center,
        NEW.repository,
    )
    assert identity.environment == load_identity(REPO_ROOT / "params.yaml").environment


def test_init_renames_the_pulumi_project_and_its_stacks(renamed: Path) -> None:
    assert yaml.safe_load((renamed / "Pulumi.yaml").read_text())["name"] == NEW.name
    stacks = stack_files(renamed)
    assert stacks, "no Pulumi.<stack>.yaml to rename"
    for stack in stacks:
        config = yaml.safe_load(stack.read_text())["config"]
        assert config["aws:region"] == NEW.region
        namespaces = {key.split(":")[0] for key in config}
        assert OLD.name not in namespaces
        assert NEW.name in namespaces
        # Every value that named the old repository (the OIDC trust) names the new one.
        assert OLD.repository not in json.dumps(config)


def test_init_renames_the_python_distribution(renamed: Path) -> None:
    pyproject = tomllib.loads((renamed / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == NEW.name


def test_init_edits_values_only(renamed: Path) -> None:
    """Comments, order and the other sections of params.yaml survive the rename."""
    before = (REPO_ROOT / "params.yaml").read_text().splitlines()
    after = (renamed / "params.yaml").read_text().splitlines()
    assert len(after) == len(before)
    changed = [(b, a) for b, a in zip(before, after, strict=True) if a != b]
    assert {b.split(":")[0].strip() for b, _ in changed} == {
        "project",
        "team",
        "cost-center",
        "repository",
    }


def test_the_sweep_replaces_whole_words_in_every_spelling() -> None:
    renames = {"app": "shop", "APP": "SHOP", "TwoWords": "NewName", "two-words": "new-name"}
    pattern = sweep_pattern(renames)
    text = "app apps snapp app-dev APP_KEY two-words-dev TwoWordsStack TwoWordsy"
    assert pattern.sub(lambda m: renames[m[0]], text) == (
        "shop apps snapp shop-dev SHOP_KEY new-name-dev NewNameStack TwoWordsy"
    )


def test_second_init_with_the_same_values_changes_nothing(
    renamed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(renamed)
    assert init(renamed, NEW) == 0
    assert "Nothing to change" in capsys.readouterr().out
    assert snapshot(renamed) == before


def test_init_renames_from_the_identity_the_tree_has_now(renamed: Path, tmp_path: Path) -> None:
    root = tmp_path / "project"
    shutil.copytree(renamed, root, symlinks=True)
    assert init(root, NEWER) == 0
    assert stale(root, NEW) == []
    assert stale(root, OLD) == []
    identity = load_identity(root / "params.yaml")
    assert (identity.project, identity.cost_center) == (NEWER.name, NEWER.cost_center)
    assert read_current(root).identity == NEWER


def test_dry_run_prints_a_diff_and_writes_nothing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(project)
    assert init(project, NEW, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "--- a/params.yaml\n+++ b/params.yaml\n" in out
    assert f"\n-  project: {OLD.name}\n" in out
    assert f"\n+  project: {NEW.name}\n" in out
    assert "nothing written" in out
    assert snapshot(project) == before


def test_a_dirty_tree_is_refused_and_left_alone(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = project / "params.yaml"
    params.write_text(params.read_text() + "\n# work in progress\n")
    before = snapshot(project)
    assert init(project, NEW) == 2
    assert "uncommitted changes (params.yaml)" in capsys.readouterr().err
    assert snapshot(project) == before
    assert init(project, NEW, "--allow-dirty") == 0
    assert stale(project, OLD) == []
