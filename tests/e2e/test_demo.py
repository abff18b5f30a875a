"""`make run` and `make serve` on a fresh clone: outputs up to date, BentoML store empty."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.support.repo import PipelineRun, clone_repo

pytestmark = pytest.mark.slow


def test_serve_names_the_fix_and_the_demo_rebuilds_the_bento(
    pipeline_run: PipelineRun, tmp_path: Path
) -> None:
    clone = clone_repo(pipeline_run.repo, tmp_path / "clone")
    recorded = json.loads(clone.read("reports/bento.json"))["bento"]

    serve = clone.run(sys.executable, "-m", "ml.serving.local", "--port", "1", check=False)
    assert serve.returncode != 0
    assert f"bento {recorded} (bento.json) is not in this machine's BentoML store" in serve.stderr
    assert "dvc repro --force --single-item package" in serve.stderr

    demo = clone.run(sys.executable, "-m", "ml.serving.demo")
    bento = json.loads(clone.read("reports/bento.json"))["bento"]
    assert "is not in this machine's BentoML store: rebuilding it" in demo.stdout
    assert "-> HTTP 200" in demo.stdout and "-> HTTP 400" in demo.stdout
    assert '"loc": ["rows", 0, "worst symmetry"]' in demo.stdout
    assert "Service stopped." in demo.stdout
    assert f"Bento: {bento}" in demo.stdout
    assert "roc_auc" in demo.stdout
