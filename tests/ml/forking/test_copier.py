"""copier copies and updates a project made from this tree, renamed by the same code."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ml.core.identity import load_identity
from ml.core.paths import REPO_ROOT
from ml.forking.tree import COPIER_ANSWERS_FILE
from ml.forking.values import (
    AWS_REGIONS,
    FIELD_NAMES,
    problems,
)
from tests.ml.forking.renaming import (
    ANSWERS_TEMPLATE,
    COPIER,
    JINJA,
    NEW,
    NEWER,
    OLD,
    copier_data,
    copier_template_only,
    git,
    init,
    stale,
    with_value,
)


def test_the_rename_runs_without_installed_packages() -> None:
    """copier runs it with bare python3: no module of ml/forking may need a third-party package."""
    modules = sorted(f"ml.forking.{path.stem}" for path in (REPO_ROOT / "ml/forking").glob("*.py"))
    # -S: no site-packages, so an import of anything outside the standard library fails.
    check = f"import {', '.join(modules)}"
    result = subprocess.run(
        [sys.executable, "-S", "-c", check], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "ml.forking.init_project" in modules


def test_copier_asks_what_init_takes() -> None:
    assert COPIER["_answers_file"] == COPIER_ANSWERS_FILE
    assert COPIER["aws_region"]["choices"] == list(AWS_REGIONS)
    (task,) = COPIER["_tasks"]
    command = task["command"]
    assert command[1:3] == ["-m", "ml.forking.init_project"]
    for option, question, _ in FIELD_NAMES.values():
        assert command[command.index(option) + 1] == f"{{{{ {question} }}}}"
    assert ANSWERS_TEMPLATE.is_file() or (REPO_ROOT / COPIER_ANSWERS_FILE).is_file()


def test_copier_proposes_a_valid_name_from_the_folder() -> None:
    default = JINJA.from_string(COPIER["project_name"]["default"])
    name = default.render(_folder_name="2 Churn_Model (copy)")
    assert name == "churn-model-copy"
    assert problems(with_value("name", name)) == []


@pytest.mark.slow
@copier_template_only
def test_copier_copy_then_update(template: Path, tmp_path: Path) -> None:
    """The ecosystem way: copier copies and renames, and later template changes arrive renamed."""
    from copier import run_copy, run_update

    destination = tmp_path / "made"
    run_copy(
        str(template), destination, data=copier_data(NEW), defaults=True, unsafe=True, quiet=True
    )
    git(destination, "init", "--quiet")
    git(destination, "add", "--all")
    git(destination, "commit", "--quiet", "--message", "start")
    assert stale(destination, OLD) == []
    assert load_identity(destination / "params.yaml").project == NEW.name
    answers = yaml.safe_load((destination / COPIER_ANSWERS_FILE).read_text())
    assert answers["_src_path"] == str(template)
    assert {k: answers[k] for k in copier_data(NEW)} == copier_data(NEW)

    # The template moves on: a new setting spelled with the template's own name.
    clone = tmp_path / "template-next"
    shutil.copytree(template, clone, symlinks=True)
    with (clone / "Pulumi.yaml").open("a") as file:
        file.write(f"# Dashboards: {OLD.name}-dashboards\n")
    git(clone, "add", "--all")
    git(clone, "commit", "--quiet", "--message", "dashboards")
    answers_text = (destination / COPIER_ANSWERS_FILE).read_text()
    (destination / COPIER_ANSWERS_FILE).write_text(answers_text.replace(str(template), str(clone)))
    git(destination, "commit", "--quiet", "--all", "--message", "follow the moved template")
    run_update(
        destination,
        answers_file=COPIER_ANSWERS_FILE,
        defaults=True,
        overwrite=True,
        unsafe=True,
        quiet=True,
    )
    changed = git(destination, "status", "--porcelain").split("\n")
    assert " M Pulumi.yaml" in changed
    assert f"# Dashboards: {NEW.name}-dashboards" in (destination / "Pulumi.yaml").read_text()
    assert stale(destination, OLD) == []

    # Renamed again by `make init`, the answers follow, so the next update renders the new name.
    git(destination, "commit", "--quiet", "--all", "--message", "update")
    assert init(destination, NEWER) == 0
    answers = yaml.safe_load((destination / COPIER_ANSWERS_FILE).read_text())
    assert {k: answers[k] for k in copier_data(NEWER)} == copier_data(NEWER)
    assert answers["_src_path"] == str(clone)


@pytest.mark.slow
@copier_template_only
def test_copier_rejects_an_invalid_answer(template: Path, tmp_path: Path) -> None:
    from copier import run_copy

    data = {**copier_data(NEW), "project_name": "Churn"}
    with pytest.raises(ValueError, match=r"project_name.*lowercase letters"):
        run_copy(
            str(template), tmp_path / "made", data=data, defaults=True, unsafe=True, quiet=True
        )
    assert not (tmp_path / "made").exists()
