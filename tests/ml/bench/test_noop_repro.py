"""The no-op `dvc repro` benchmark: its report, its guards against running a stage, and the
literal raw-data path in dvc.yaml that keeps DVC's templating out of every command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ml.bench import noop_repro
from ml.bench.noop_repro import NoopBenchError, Run, check_noop, measure, run_process, summary
from ml.core.params import load_params
from ml.core.paths import REPO_ROOT
from tests.support.repo import PipelineRun, tool_env

VERSIONS = {"python": "3.11.7", "dvc": "3.67.1"}
UP_TO_DATE = "Data and pipelines are up to date.\n"


def _run(wall: float, cpu: float = 0.5, output: str = UP_TO_DATE, code: int = 0) -> Run:
    return Run(returncode=code, output=output, wall_s=wall, cpu_s=cpu)


def test_the_summary_reports_the_median_and_every_run() -> None:
    report = summary([_run(1.4, 0.9), _run(0.8, 0.6), _run(0.9, 0.7)], VERSIONS)

    assert report["median_s"] == 0.9
    assert report["wall_s"] == [1.4, 0.8, 0.9]
    assert (report["min_s"], report["max_s"]) == (0.8, 1.4)
    assert report["median_cpu_s"] == 0.7
    assert report["under_target"] is True
    assert report["runs"] == 3
    assert report["cores"] >= 1
    assert len(report["load_average"]) == 3
    assert report["versions"] == VERSIONS
    json.dumps(report)


def test_a_median_at_the_target_is_not_under_it() -> None:
    report = summary([_run(noop_repro.TARGET_S), _run(0.5), _run(1.5)], VERSIONS)

    assert report["median_s"] == noop_repro.TARGET_S
    assert report["under_target"] is False


@pytest.mark.parametrize(
    ("run", "lock_after", "message"),
    [
        (_run(1.0, code=1, output="ERROR: boom"), b"lock", "exited with 1"),
        (_run(1.0, output="Running stage 'train':\n> python -m ml.pipeline.train"), b"lock", "ran"),
        (_run(1.0), b"another lock", "rewrote dvc.lock"),
    ],
)
def test_a_run_that_was_not_a_noop_stops_the_benchmark(
    run: Run, lock_after: bytes, message: str
) -> None:
    with pytest.raises(NoopBenchError, match=message):
        check_noop(run, b"lock", lock_after)


def test_a_noop_run_passes_the_checks() -> None:
    check_noop(_run(1.0), b"lock", b"lock")


def test_bad_counts_and_a_folder_without_a_pipeline_are_refused(tmp_path: Path) -> None:
    with pytest.raises(NoopBenchError, match="--runs must be at least 1"):
        measure(0, 1, REPO_ROOT)
    with pytest.raises(NoopBenchError, match=r"no dvc\.yaml in"):
        measure(1, 0, tmp_path)


def test_the_phases_come_from_the_childs_stamps_and_the_parents_times() -> None:
    stamps = [100.04, 100.10, 100.70, 100.85]  # started, imported, checked (first run), done
    output = f"Data and pipelines are up to date.\n\n{noop_repro.PHASES_MARK}{json.dumps(stamps)}\n"

    phases = noop_repro.split_phases(output, spawned=100.0, ended=101.05)

    # The first run (0.60 s) less the second (0.15 s) is what it imported; exit follows `done`.
    assert phases == {"start_s": 0.04, "imports_s": 0.51, "check_s": 0.15, "exit_s": 0.2}
    assert noop_repro.describe(phases) == (
        "where one no-op goes: interpreter start 0.04 s (4%), imports 0.51 s (57%), "
        "pipeline check 0.15 s (17%), interpreter exit 0.20 s (22%)"
    )
    with pytest.raises(NoopBenchError, match="printed no timings"):
        noop_repro.split_phases("Traceback (most recent call last):\n", 1.0, 2.0)


def test_dvc_yaml_names_the_raw_table_params_yaml_names() -> None:
    """dvc.yaml writes the raw table's path out (no `${...}`, so DVC skips its templating); it
    must stay the path the ingest stage writes, params.yaml's ingest.output."""
    pipeline = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    stages = pipeline["stages"]
    raw = load_params().ingest.output

    assert "${" not in json.dumps(pipeline)
    assert "vars" not in pipeline
    assert stages["ingest"]["outs"] == [raw]
    assert raw in stages["validate"]["deps"]
    assert raw in stages["prepare"]["deps"]


def _tiny_pipeline(root: Path) -> dict[str, str]:
    """A one-stage DVC project without git in `root`, reproduced once; returns its environment."""
    root.mkdir()
    env = tool_env(root)
    (root / "in.txt").write_text("a\n", encoding="utf-8")
    stage = {"cmd": "cat in.txt >> out.txt", "deps": ["in.txt"], "outs": ["out.txt"]}
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"copy": stage}}), encoding="utf-8")
    for command in (["init", "--no-scm", "-q"], ["repro", "-q"]):
        assert run_process([*noop_repro.default_dvc(), *command], root, env).returncode == 0
    return env


@pytest.mark.slow
def test_the_benchmark_measures_noops_and_never_runs_a_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "tiny"
    env = _tiny_pipeline(root)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "bench-noop.json"

    noop_repro.main(
        ["--runs", "2", "--repo", str(root), "--out", str(out), "--dvc", "python -m dvc"]
    )

    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["command"] == "python -m dvc repro"
    assert report["runs"] == len(report["wall_s"]) == len(report["cpu_s"]) == 2
    assert all(wall > 0 for wall in report["wall_s"])
    assert report["versions"]["dvc"] != "not installed"
    # The phased run: every phase measured, together about one no-op.
    phases = report["phases_s"]
    assert list(phases) == ["start_s", "imports_s", "check_s", "exit_s"]
    assert phases["start_s"] > 0 and phases["imports_s"] > 0 and phases["check_s"] > 0
    assert 0.3 * report["median_s"] < sum(phases.values()) < 3 * report["median_s"]

    def runner(command: list[str], cwd: Path) -> Run:
        return run_process(command, cwd, env)

    # A changed dependency: `dvc repro` would run the stage, so the benchmark must not start.
    (root / "in.txt").write_text("b\n", encoding="utf-8")
    with pytest.raises(NoopBenchError, match="not up to date"):
        measure(1, 0, root, runner)
    assert (root / "out.txt").read_text(encoding="utf-8") == "a\n"


@pytest.mark.slow
def test_the_committed_pipeline_repros_as_a_noop(pipeline_run: PipelineRun) -> None:
    """After one `dvc repro` of a fresh copy, `dvc repro` runs nothing and keeps dvc.lock."""
    repo = pipeline_run.repo

    def runner(command: list[str], cwd: Path) -> Run:
        return run_process(command, cwd, repo.env)

    (run,) = measure(1, 0, repo.root, runner)
    assert run.returncode == 0
