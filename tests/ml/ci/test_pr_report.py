"""`make pr-report`: the sticky comment's body, its plan diff and what started a retraining."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml.ci import infra_report, markdown, pr_report
from ml.core.params import load_params
from ml.core.paths import REPO_ROOT
from ml.pipeline import plots
from ml.pipeline.lineage import file_md5
from ml.release import gate
from ml.release.champion import Champion
from tests.support.plots import loaded_addresses, make_plots


def _resource(urn: str, **inputs: object) -> dict[str, object]:
    return {"urn": urn, "type": urn.split("::")[-2], "name": urn.split("::")[-1], "inputs": inputs}


def test_plan_diff_lists_added_removed_and_changed_inputs() -> None:
    base = {
        "resources": [
            _resource("urn:s::p::aws:s3/bucket:Bucket::logs", acl="private"),
            _resource("urn:s::p::aws:ecr/repository:Repository::bentos", scan=True),
            _resource("urn:s::p::aws:iam/role:Role::old", path="/"),
        ]
    }
    head = {
        "resources": [
            _resource("urn:s::p::aws:s3/bucket:Bucket::logs", acl="private"),
            _resource("urn:s::p::aws:ecr/repository:Repository::bentos", scan=False, tags={}),
            _resource("urn:s::p::aws:kms/key:Key::new", rotate=True),
        ]
    }
    assert infra_report.plan_diff(base, head) == [
        ("added", "aws:kms/key:Key", "new"),
        ("removed", "aws:iam/role:Role", "old"),
        ("changed", "aws:ecr/repository:Repository", "bentos (scan, tags)"),
    ]
    assert infra_report.plan_diff(head, head) == []


def test_a_renamed_resource_that_aliases_its_old_urn_is_not_a_replacement() -> None:
    old_urn = "urn:s::p::mlops:infra:Storage$aws:s3/bucket:Bucket::logs"
    base = {"resources": [_resource(old_urn, acl="private")]}
    renamed = _resource("urn:s::p::mlops:storage:Storage$aws:s3/bucket:Bucket::logs", acl="private")
    head = {"resources": [{**renamed, "aliases": [old_urn]}]}
    assert infra_report.plan_diff(base, head) == []
    # Without the alias it would be a removal and an addition.
    assert [row[0] for row in infra_report.plan_diff(base, {"resources": [renamed]})] == [
        "added",
        "removed",
    ]


def test_the_plan_module_of_either_layout_is_found(tmp_path: Path) -> None:
    assert infra_report.plan_module(tmp_path) is None
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "plan.py").write_text("")
    assert infra_report.plan_module(tmp_path) == "infra.plan"
    (tmp_path / "infra" / "tools").mkdir()
    (tmp_path / "infra" / "tools" / "plan.py").write_text("")
    assert infra_report.plan_module(tmp_path) == "infra.tools.plan"


def test_plan_table_caps_its_rows() -> None:
    rows = [("added", "t", f"r{i}") for i in range(markdown.MAX_ROWS + 5)]
    table = infra_report.plan_table(rows)
    assert table.count("| added |") == markdown.MAX_ROWS
    assert "| ... | 5 more | |" in table
    assert infra_report.plan_table([]) == "No resource changes."


def test_a_drift_dispatch_explains_the_retraining(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = tmp_path / "event.json"
    payload = {"drifted_features": ["mean radius", "worst `area`"], "class_shift_detected": True}
    event.write_text(json.dumps({"client_payload": payload}), encoding="utf-8")
    monkeypatch.setenv("GITHUB_EVENT_NAME", "repository_dispatch")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    note = pr_report.trigger_note()
    assert "drift was detected" in note
    assert "`mean radius`, `worst area`" in note
    assert "class balance shifted" in note
    monkeypatch.setenv("GITHUB_EVENT_NAME", "schedule")
    assert pr_report.trigger_note() == "Scheduled retraining on the latest data."
    monkeypatch.setenv("GITHUB_EVENT_NAME", "pull_request")
    assert pr_report.trigger_note() == ""


def test_long_output_is_cut_in_the_middle() -> None:
    text = "a" * 20_000 + "z"
    cut = markdown.cut(text, limit=100)
    assert len(cut) < 200
    assert cut.startswith("a") and cut.endswith("z") and "[... cut ...]" in cut


def test_failures_head_the_report() -> None:
    report = markdown.Report()
    report.add("Plan: dev", "x")
    report.failures.append("offline plan of dev")
    text = report.markdown("Pull request report", "origin/main")
    assert text.startswith("## Pull request report (against `origin/main`)\n\n**Failed:** offline")


def test_the_report_of_this_repository_against_its_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole report, run for real: dvc diffs, plots, the offline plan twice and its cost."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("GITHUB_EVENT_NAME", raising=False)
    argv = ["--base", "HEAD", "--stacks", "dev", "--out", str(tmp_path)]
    status = pr_report.main([*argv, "--gate", str(tmp_path / "gate.json")])
    comment = (tmp_path / pr_report.COMMENT_FILE).read_text(encoding="utf-8")
    assert status == 0, comment
    assert "### Candidate vs production\n\nThe gate did not run" in comment
    for heading in ("### Metrics", "### Params", "### Plots", "### Plan: dev", "Monthly cost"):
        assert heading in comment
    assert (tmp_path / "plan-dev.json").is_file()
    assert not (tmp_path / "base-tree").exists()


def test_the_plots_of_the_report_open_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The artifact's page is `make plots`'s: vega beside it, nothing from a CDN."""
    make_plots(tmp_path / "make-plots")  # installs vega, as `make pr-report` does
    monkeypatch.delenv("GITHUB_RUN_ID", raising=False)
    report = markdown.Report()
    pr_report.plots_section(report, "HEAD", tmp_path, REPO_ROOT)
    page = tmp_path / pr_report.PLOTS_DIR / plots.PAGE
    assert f"`dvc plots diff HEAD`: `{page}`, opens offline." in report.markdown("t", "HEAD")
    assert loaded_addresses(page) == list(plots.LIBRARIES)
    assert all((page.parent / name).stat().st_size for name in plots.LIBRARIES)


CANDIDATE = {"accuracy": 0.9512, "roc_auc": 0.991, "f1": 0.96, "precision": 0.95, "recall": 0.97}
PRODUCTION = CANDIDATE | {"accuracy": 0.9720}


def _gate_file(tmp_path: Path, candidate: dict[str, float], model: Path) -> Path:
    """A report as `make gate` writes it, for `model`, against a production file model."""
    champion = Champion("file", "production model from the file champion.joblib", where="x")
    result = gate.judge(candidate, champion, PRODUCTION, load_params().evaluate)
    path = tmp_path / "gate.json"
    gate.write_report({"candidate_md5": file_md5(model), **result}, path)
    return path


def test_the_gate_section_shows_both_models_the_margin_and_the_verdict(tmp_path: Path) -> None:
    model = tmp_path / "model.joblib"
    model.write_bytes(b"candidate")
    report = markdown.Report()

    pr_report.gate_section(report, _gate_file(tmp_path, CANDIDATE, model), model, tmp_path)

    text = report.markdown("t", "HEAD")
    assert "**Failed:** champion/challenger gate (fail)" in text
    assert "### Candidate vs production\n\n**Verdict: fail.**" in text
    assert "| `accuracy` | 0.9512 | 0.9720 | -0.0208 | 0.0100 | 0.9300 | **fails" in text
    assert "| `roc_auc` | 0.9910 | 0.9910 | +0.0000 | 0.0050 | 0.9700 | ok |" in text
    message = "gate: candidate accuracy 0.9512 is 0.0208 below production's 0.9720 (margin 0.0100)"
    assert f"- {message}" in text
    assert "Stale" not in text


def test_a_passing_gate_is_no_failure_and_a_stale_one_says_so(tmp_path: Path) -> None:
    model = tmp_path / "model.joblib"
    model.write_bytes(b"candidate")
    gate_file = _gate_file(tmp_path, PRODUCTION, model)
    report = markdown.Report()

    pr_report.gate_section(report, gate_file, model, tmp_path)
    assert report.failures == []
    assert "**Verdict: pass.**" in report.sections[0]

    model.write_bytes(b"retrained since")
    report = markdown.Report()
    pr_report.gate_section(report, gate_file, model, tmp_path)
    assert report.sections[0].startswith("### Candidate vs production\n\n**Stale:**")


def test_without_a_gate_report_the_section_says_the_gate_did_not_run(tmp_path: Path) -> None:
    report = markdown.Report()

    pr_report.gate_section(report, tmp_path / "reports" / "gate.json", tmp_path / "m", tmp_path)

    assert report.sections == [
        "### Candidate vs production\n\n"
        "The gate did not run (no `reports/gate.json`): `make gate` writes it.\n"
    ]
    assert report.failures == []
