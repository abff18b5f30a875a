"""The real pipeline: `dvc repro` in a fresh copy of the repository, then what users do next."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.repo import (
    CACHED,
    PLOTS,
    REPORTS,
    UP_TO_DATE,
    PipelineRun,
    RepoCopy,
    clone_repo,
    fingerprints,
)

pytestmark = pytest.mark.slow

STAGES = ("ingest", "validate", "prepare", "train", "evaluate", "package")
PACKAGE_REPORTS = ("reports/bento.json", "reports/model_card.md")


def set_param(repo: RepoCopy, key: str, value: Any) -> None:
    """Set one dotted key of the copy's params.yaml, as `dvc exp run -S key=value` would."""
    path = repo.root / "params.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    *parents, leaf = key.split(".")
    section = data
    for name in parents:
        section = section[name]
    section[leaf] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def test_repro_runs_every_stage_in_order(pipeline_run: PipelineRun) -> None:
    starts = [pipeline_run.output.index(f"Running stage '{stage}'") for stage in STAGES]

    assert starts == sorted(starts)
    lock = yaml.safe_load(pipeline_run.repo.read("dvc.lock"))
    assert tuple(lock["stages"]) == STAGES
    for name in CACHED + REPORTS + PACKAGE_REPORTS:
        assert (pipeline_run.repo.root / name).is_file(), name


def test_data_goes_to_dvc_and_reports_to_git(pipeline_run: PipelineRun) -> None:
    tracked = set(pipeline_run.repo.git("ls-files").stdout.split())

    assert {"dvc.lock", *REPORTS, *PACKAGE_REPORTS} <= tracked
    assert not tracked & set(CACHED)


def test_a_second_repro_runs_nothing(pipeline_run: PipelineRun) -> None:
    repo = pipeline_run.repo

    result = repo.dvc("repro")

    assert "Running stage" not in result.stdout
    assert UP_TO_DATE in result.stdout
    assert UP_TO_DATE in repo.dvc("status").stdout
    assert repo.git("status", "--porcelain").stdout == ""


def test_rerunning_every_stage_reproduces_every_byte(
    pipeline_run: PipelineRun, tmp_path: Path
) -> None:
    repo = clone_repo(pipeline_run.repo, tmp_path / "repo")
    before = fingerprints(repo)

    result = repo.dvc("repro", "--force", "evaluate")

    assert result.stdout.count("Running stage") == 5
    assert fingerprints(repo) == before
    assert repo.git("status", "--porcelain").stdout == ""


def test_metrics_and_plots_are_declared_for_dvc(pipeline_run: PipelineRun) -> None:
    repo = pipeline_run.repo

    metrics = json.loads(repo.dvc("metrics", "show", "--json").stdout)
    plots = json.loads(repo.dvc("plots", "show", "--json").stdout)

    (workspace,) = metrics.values()
    shown = workspace["data"]["reports/metrics.json"]["data"]
    assert shown == json.loads(repo.read("reports/metrics.json"))
    assert not plots.get("errors")
    specs = {name: plots["data"][name][0]["content"] for name in PLOTS}
    roc = specs["reports/plots/roc.csv"]["encoding"]
    assert (roc["x"]["field"], roc["y"]["field"]) == ("fpr", "tpr")
    # DVC's confusion template: a faceted heat map counting (actual, predicted) pairs.
    confusion = specs["reports/plots/confusion.csv"]["spec"]
    assert confusion["encoding"]["x"]["field"] == "actual"
    assert confusion["encoding"]["y"]["field"] == "predicted"
    assert confusion["layer"][0]["mark"] == "rect"


def test_an_experiment_with_one_changed_param(pipeline_run: PipelineRun, tmp_path: Path) -> None:
    repo = clone_repo(pipeline_run.repo, tmp_path / "repo")
    committed = json.loads(repo.read("reports/metrics.json"))

    result = repo.dvc("exp", "run", "evaluate", "-S", "train.model.max_iter=50")

    ran = [stage for stage in STAGES if f"Running stage '{stage}'" in result.stdout]
    assert ran == ["train", "evaluate"]
    changed = json.loads(repo.dvc("params", "diff", "--json").stdout)["params.yaml"]
    assert changed == {"train.model.max_iter": {"old": 100, "new": 50, "diff": -50}}
    table = csv.DictReader(io.StringIO(repo.dvc("exp", "show", "--csv").stdout))
    experiments = [row for row in table if row["Experiment"]]
    assert [row["train.model.max_iter"] for row in experiments] == ["50"]
    metrics = json.loads(repo.read("reports/metrics.json"))
    assert metrics == {name: float(experiments[0][name]) for name in committed}
    # What a pull request shows: every metric moved, and the curves of both revisions.
    diff = json.loads(repo.dvc("metrics", "diff", "--json").stdout)["reports/metrics.json"]
    assert {name: (d["old"], d["new"]) for name, d in diff.items()} == {
        name: (committed[name], metrics[name]) for name in committed
    }
    plots = json.loads(repo.dvc("plots", "diff", "--json").stdout)
    assert set(plots["data"]["reports/plots/roc.csv"][0]["revisions"]) == {"HEAD", "workspace"}


def test_a_broken_table_stops_the_pipeline_and_keeps_its_report(
    pipeline_run: PipelineRun, tmp_path: Path
) -> None:
    repo = clone_repo(pipeline_run.repo, tmp_path / "repo")
    set_param(repo, "validate.min_rows", 5000)

    result = repo.dvc("repro", check=False)

    assert result.returncode != 0
    assert "validate: table breaks min_rows(5000): 569 rows" in result.stderr
    assert "Running stage 'prepare'" not in result.stdout
    report = json.loads(repo.read("reports/validation.json"))
    assert report["passed"] is False
    assert report["violations"] == [{"column": None, "rule": "min_rows(5000)", "found": "569 rows"}]


def test_the_quality_gate_fails_evaluate_after_writing_its_reports(
    pipeline_run: PipelineRun, tmp_path: Path
) -> None:
    repo = clone_repo(pipeline_run.repo, tmp_path / "repo")
    recall = json.loads(repo.read("reports/metrics.json"))["recall"]
    set_param(repo, "evaluate.thresholds.recall", 0.999)
    before = fingerprints(repo, ("reports/metrics.json", *PLOTS))
    for name in before:
        (repo.root / name).unlink()

    result = repo.dvc("repro", check=False)

    assert result.returncode != 0
    gap = 0.999 - recall
    assert (
        f"quality gate: recall {recall:.4f} is {gap:.4f} below the threshold 0.9990"
        in result.stderr
    )
    assert "Running stage 'package'" not in result.stdout
    assert fingerprints(repo, tuple(before)) == before
