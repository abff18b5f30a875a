"""Fixtures for the tests of `make init` and copier.

Each test works on a git repository made from this tree's files in a temporary folder, built once
for the folder (package scope) as a test may only read it; `project` is a private copy to change.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ml.core.paths import REPO_ROOT
from ml.forking.prices import CREDENTIAL_VARIABLES, PRICE_TABLE
from tests.ml.forking.renaming import NEW, git, init, tree_files


@pytest.fixture(scope="package", autouse=True)
def no_aws_credentials(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No init here fetches prices for real: it finds no AWS credentials unless a test adds some."""
    nowhere = tmp_path_factory.mktemp("no-aws")
    with pytest.MonkeyPatch.context() as patch:
        for name in CREDENTIAL_VARIABLES:
            patch.delenv(name, raising=False)
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(nowhere / "credentials"))
        patch.setenv("AWS_CONFIG_FILE", str(nowhere / "config"))
        yield


@pytest.fixture(scope="package")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This tree's tracked and untracked-not-ignored files, committed in a fresh repository."""
    root = tmp_path_factory.mktemp("template")
    for name in tree_files(REPO_ROOT):
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, target)
    git(root, "init", "--quiet")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "--message", "template")
    return root


@pytest.fixture
def project(template: Path, tmp_path: Path) -> Path:
    """A private copy of the template repository that a test may change."""
    root = tmp_path / "project"
    shutil.copytree(template, root, symlinks=True)
    return root


@pytest.fixture(scope="package")
def renamed(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template renamed to NEW by `make init`, committed."""
    root = tmp_path_factory.mktemp("renamed") / "project"
    shutil.copytree(template, root, symlinks=True)
    assert init(root, NEW) == 0
    git(root, "commit", "--quiet", "--all", "--message", "init")
    return root


@pytest.fixture
def fake_make(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `make` first on PATH that records where it ran and its arguments, and fails when
    FAKE_MAKE_FAILS is set; else it adds the region it was given to the price table, as
    `make prices` would. Returns the record file (absent while `make` never ran)."""
    record, script = tmp_path / "make-calls", tmp_path / "bin" / "make"
    script.parent.mkdir()
    script.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$(pwd -P)" "$@" >> "{record}"\n'
        'if [ -n "${FAKE_MAKE_FAILS:-}" ]; then exit 2; fi\n'
        f'printf "\\n  %s: {{}}\\n" "${{2#REGION=}}" >> "{PRICE_TABLE}"\n'
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    return record
