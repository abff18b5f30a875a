"""`python -m infra.tools.urn`: the URN CI targets is the one the stack program declares."""

from __future__ import annotations

import subprocess
import sys

import pytest

from infra.components.serving import MODEL_SERVING_TYPE
from infra.tools import urn
from tests.support.plans import plan_json
from tests.support.pulumi_unit import REPO_ROOT


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_printed_urn_is_the_planned_model_serving_component(stack: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "infra.tools.urn", "model-serving", "--stack", stack],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    (planned,) = [r for r in plan_json(stack)["resources"] if r["type"] == MODEL_SERVING_TYPE]
    assert result.stdout == f"{planned['urn']}\n"


def test_an_unknown_component_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        urn.main(["registry", "--stack", "dev"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'registry'" in capsys.readouterr().err
