"""The dependency direction is enforced: `make lint` runs import-linter's contracts from
pyproject.toml, and a module that crosses a forbidden line fails it, naming the contract."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ml.core.paths import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": str(LINT_IMPORTS.parent)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture
def copy_of_the_code(tmp_path: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("ml", "infra"):
        shutil.copytree(REPO_ROOT / package, tmp_path / package, ignore=ignore)
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_contracts_hold(copy_of_the_code: Path) -> None:
    result = lint_imports(copy_of_the_code)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_ml_module_importing_infra_breaks_a_contract(copy_of_the_code: Path) -> None:
    module = copy_of_the_code / "ml" / "pipeline" / "shortcut.py"
    module.write_text('"""A stage reaching into the platform."""\n\nimport infra.settings\n')
    result = lint_imports(copy_of_the_code)
    assert result.returncode == 1
    assert "ml never imports infra" in result.stdout
    assert "ml.pipeline.shortcut -> infra.settings" in result.stdout


def test_serving_importing_monitoring_breaks_a_contract(copy_of_the_code: Path) -> None:
    module = copy_of_the_code / "ml" / "serving" / "peek.py"
    module.write_text('"""The service reading drift internals."""\n\nimport ml.monitoring.drift\n')
    result = lint_imports(copy_of_the_code)
    assert result.returncode == 1
    assert "serving and monitoring are independent" in result.stdout
