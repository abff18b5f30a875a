"""`make gate`: the candidate against the production model, from moto's S3 or a local file."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import boto3
import pytest

from ml.core.artifacts import alias_key, model_key
from ml.core.params import ChampionParams, Margins, Params, Thresholds
from ml.pipeline import evaluate
from ml.pipeline.schema import read_table
from ml.pipeline.train import load_model
from ml.release import gate
from ml.release.champion import PRODUCTION
from tests.support.network import free_port
from tests.support.tiny_bento import bentoml_env

NAME = "breast-cancer-classifier"
MARGINS = Margins(accuracy=0.01, roc_auc=0.005)


@dataclass(frozen=True)
class Outcome:
    status: int
    report: dict[str, Any]
    stdout: str
    stderr: str


def with_champion(params: Params, **settings: Any) -> Params:
    champion = ChampionParams(**({"margins": MARGINS} | settings))
    return params.model_copy(
        update={"evaluate": params.evaluate.model_copy(update={"champion": champion})}
    )


@pytest.fixture
def use_params(params: Params, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Sets the params the gate reads: the shipped ones with MARGINS and any champion setting."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)

    def use(**settings: Any) -> Params:
        chosen = with_champion(params, **settings)
        monkeypatch.setattr(gate, "stage_params", lambda: chosen)
        return chosen

    use()
    return use


@pytest.fixture
def registry(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty artifacts bucket of its own in moto, named by ARTIFACTS_BUCKET."""
    bucket = f"registry-{uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    monkeypatch.setenv("ARTIFACTS_BUCKET", bucket)
    return bucket


def set_production(
    bucket: str, version: str, model: Path | None = None, stage: str = PRODUCTION
) -> None:
    """Point the `stage` alias at `version` (ml/core/artifacts.py's layout), uploading `model` as
    that version's model file unless None."""
    s3 = boto3.client("s3")
    if model is not None:
        s3.put_object(Bucket=bucket, Key=model_key(NAME, version), Body=model.read_bytes())
    record = {"alias": stage, "model": NAME, "version": version, "bento": f"{NAME}:{version}"}
    s3.put_object(Bucket=bucket, Key=alias_key(NAME, stage), Body=json.dumps(record))


def metrics_of(model: Path, rows: Path) -> dict[str, float]:
    return gate.model_metrics(load_model(model), read_table(rows))


@pytest.fixture
def run_gate(test_rows: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    """gate.main on the held-out rows with `candidate`: its status, report and output."""

    def run(candidate: Path, *extra: str) -> Outcome:
        out = tmp_path / "reports" / "gate.json"
        argv = ["--candidate", str(candidate), "--rows", str(test_rows), "--out", str(out)]
        status = gate.main([*argv, *extra])
        captured = capsys.readouterr()
        report = json.loads(out.read_text(encoding="utf-8"))
        return Outcome(status, report, captured.out, captured.err)

    return run


def test_the_gate_scores_as_the_evaluate_stage_does(
    model_files: dict[str, Path], test_rows: Path, tmp_path: Path
) -> None:
    model, rows = load_model(model_files["shipped"]), read_table(test_rows)
    written = evaluate.evaluate(model, rows, tmp_path / "metrics.json", tmp_path / "plots")
    assert gate.model_metrics(model, rows) == written
    # Margins and thresholds name exactly the metrics the evaluate stage computes.
    assert list(Margins.model_fields) == list(Thresholds.model_fields) == list(written)


def test_a_better_candidate_passes(
    registry: str, use_params: Any, run_gate: Any, model_files: dict[str, Path], test_rows: Path
) -> None:
    set_production(registry, "v1", model_files["shipped"])

    outcome = run_gate(model_files["strong"])

    assert outcome.status == 0, outcome.stderr
    report = outcome.report
    assert report["verdict"] == "pass"
    assert report["champion"] == {
        "source": "registry",
        "alias": "production",
        "version": "v1",
        "where": f"s3://{registry}/{model_key(NAME, 'v1')}",
        "note": f"production model {NAME}:v1 from the registry",
    }
    assert report["production"] == metrics_of(model_files["shipped"], test_rows)
    assert report["candidate"] == metrics_of(model_files["strong"], test_rows)
    assert report["margins"] == {"accuracy": 0.01, "roc_auc": 0.005}
    accuracy = report["metrics"][0]
    assert accuracy["metric"] == "accuracy" and accuracy["within_margin"] is True
    assert accuracy["delta"] == round(accuracy["candidate"] - accuracy["production"], 4) > 0
    assert report["failures"] == []
    assert "**Verdict: pass.**" in outcome.stdout
    assert "| metric | candidate | production (`v1`) | difference | margin |" in outcome.stdout


def test_a_candidate_worse_beyond_the_margin_fails_naming_metric_values_and_margin(
    registry: str, use_params: Any, run_gate: Any, model_files: dict[str, Path], test_rows: Path
) -> None:
    set_production(registry, "v2", model_files["strong"])
    ours = metrics_of(model_files["shipped"], test_rows)["accuracy"]
    theirs = metrics_of(model_files["strong"], test_rows)["accuracy"]
    assert theirs - ours > 0.01  # the shipped model is the worse one by more than the margin

    outcome = run_gate(model_files["shipped"])

    message = (
        f"gate: candidate accuracy {ours:.4f} is {theirs - ours:.4f} below "
        f"production's {theirs:.4f} (margin 0.0100)"
    )
    assert outcome.status == 1
    assert outcome.report["verdict"] == "fail"
    assert message in outcome.stderr.splitlines()
    assert outcome.report["failures"] == [message]
    assert outcome.report["metrics"][0]["within_margin"] is False
    row = f"| `accuracy` | {ours:.4f} | {theirs:.4f} | {ours - theirs:+.4f} | 0.0100 | 0.9300 |"
    assert row + " **fails: beyond margin** |" in outcome.stdout
    # roc_auc is worse too, but within its margin of 0.005.
    assert outcome.report["metrics"][1]["within_margin"] is True
    assert outcome.report["metrics"][1]["delta"] < 0


def test_a_candidate_worse_within_the_margins_passes(
    registry: str, use_params: Any, run_gate: Any, model_files: dict[str, Path]
) -> None:
    set_production(registry, "v3", model_files["strong"])

    outcome = run_gate(model_files["close"])

    assert outcome.status == 0, outcome.stderr
    assert outcome.report["verdict"] == "pass"
    compared = [row for row in outcome.report["metrics"] if row["margin"] is not None]
    assert [row["metric"] for row in compared] == ["accuracy", "roc_auc"]
    assert all(-row["margin"] <= row["delta"] < 0 for row in compared)


def test_no_production_alias_yet_falls_back_to_the_thresholds_and_says_so(
    registry: str, use_params: Any, run_gate: Any, model_files: dict[str, Path]
) -> None:
    outcome = run_gate(model_files["shipped"])

    alias = f"s3://{registry}/{alias_key(NAME, PRODUCTION)}"
    assert outcome.status == 0, outcome.stderr
    assert outcome.report["verdict"] == "thresholds-only"
    assert outcome.report["production"] is None
    assert outcome.report["champion"]["source"] == "none"
    assert f"gate: no production model yet (no {alias}): thresholds only" in outcome.stderr
    assert "**Verdict: thresholds only** (no production model yet" in outcome.stdout


def test_without_production_the_thresholds_still_fail_a_weak_candidate(
    registry: str, use_params: Any, run_gate: Any, model_files: dict[str, Path]
) -> None:
    outcome = run_gate(model_files["imprecise"])

    assert outcome.status == 1
    assert outcome.report["verdict"] == "fail"
    [failure] = outcome.report["failures"]
    assert failure.startswith("quality gate: precision ")
    assert failure.endswith("below the threshold 0.9300")
    assert failure in outcome.stderr


def test_no_registry_configured_is_thresholds_only(
    use_params: Any,
    run_gate: Any,
    model_files: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ARTIFACTS_BUCKET", raising=False)

    outcome = run_gate(model_files["shipped"])

    assert outcome.status == 0, outcome.stderr
    assert outcome.report["verdict"] == "thresholds-only"
    assert "no registry configured (--bucket or ARTIFACTS_BUCKET)" in outcome.report["note"]


def test_a_configured_registry_that_cannot_be_reached_is_an_error_not_a_pass(
    aws_env: str,
    use_params: Any,
    run_gate: Any,
    model_files: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")

    outcome = run_gate(model_files["strong"], "--bucket", "artifacts")

    assert outcome.status == 2
    assert outcome.report["verdict"] == "error"
    assert outcome.report["production"] is None
    [failure] = outcome.report["failures"]
    assert failure.startswith("gate: cannot reach the registry s3://artifacts: ")
    assert failure in outcome.stderr
    assert "**Verdict: error.**" in outcome.stdout


def test_a_bucket_that_does_not_exist_is_an_error(
    aws_env: str, use_params: Any, run_gate: Any, model_files: dict[str, Path]
) -> None:
    outcome = run_gate(model_files["strong"], "--bucket", f"missing-{uuid4().hex[:12]}")

    assert outcome.status == 2
    assert "NoSuchBucket" in outcome.report["failures"][0]


def test_an_alias_naming_a_version_without_a_model_file_is_an_error(
    registry: str, use_params: Any, run_gate: Any, model_files: dict[str, Path]
) -> None:
    set_production(registry, "v4")

    outcome = run_gate(model_files["strong"])

    assert outcome.status == 2
    assert outcome.report["verdict"] == "error"
    where = f"s3://{registry}/{model_key(NAME, 'v4')}"
    assert f"names version v4, but {where} is missing" in outcome.report["failures"][0]
    assert f"make publish BENTO={NAME}:v4" in outcome.report["failures"][0]


def test_a_local_champion_file_needs_no_registry(
    use_params: Any,
    run_gate: Any,
    model_files: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ARTIFACTS_BUCKET", raising=False)

    outcome = run_gate(model_files["shipped"], "--champion-file", str(model_files["strong"]))

    assert outcome.status == 1
    assert outcome.report["champion"]["source"] == "file"
    assert outcome.report["champion"]["where"] == str(model_files["strong"])
    assert outcome.report["failures"][0].startswith("gate: candidate accuracy ")

    # The params' file, when the command line names none; it wins over a configured registry.
    use_params(file=str(model_files["shipped"]))
    monkeypatch.setenv("ARTIFACTS_BUCKET", "not-looked-up")
    outcome = run_gate(model_files["strong"])
    assert outcome.status == 0, outcome.stderr
    assert (outcome.report["verdict"], outcome.report["champion"]["source"]) == ("pass", "file")


def test_a_champion_file_that_does_not_load_is_an_error(
    use_params: Any, run_gate: Any, model_files: dict[str, Path], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.joblib"
    broken.write_bytes(b"not a model")

    outcome = run_gate(model_files["strong"], "--champion-file", str(broken))
    assert outcome.status == 2
    assert f"champion file {broken} does not load as a model" in outcome.report["failures"][0]

    outcome = run_gate(model_files["strong"], "--champion-file", str(tmp_path / "none.joblib"))
    assert outcome.status == 2
    assert "not found" in outcome.report["failures"][0]


def test_a_champion_but_no_margins_is_thresholds_only(
    use_params: Any, run_gate: Any, model_files: dict[str, Path]
) -> None:
    use_params(margins=Margins())

    outcome = run_gate(model_files["shipped"], "--champion-file", str(model_files["strong"]))

    assert outcome.status == 0, outcome.stderr
    assert outcome.report["verdict"] == "thresholds-only"
    assert "no margins in params.evaluate.champion.margins" in outcome.report["note"]
    # Production's metrics are still there, side by side.
    assert outcome.report["production"]["accuracy"] > outcome.report["candidate"]["accuracy"]


def test_the_offline_report_is_the_same_on_every_run(
    use_params: Any,
    run_gate: Any,
    model_files: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.delenv("ARTIFACTS_BUCKET", raising=False)
    first = run_gate(model_files["shipped"])
    text = (tmp_path / "reports" / "gate.json").read_text(encoding="utf-8")
    second = run_gate(model_files["shipped"])
    assert (tmp_path / "reports" / "gate.json").read_text(encoding="utf-8") == text
    assert first == second


def test_the_gate_reads_what_publish_uploaded(
    registry: str,
    use_params: Any,
    run_gate: Any,
    model_bento: tuple[str, Path],
    model_files: dict[str, Path],
) -> None:
    """End to end: a real bento published to the registry becomes the champion."""
    tag, home = model_bento
    version = tag.split(":")[1]
    # bentoml reads its home once, at import: publish runs in a child with the bento's home.
    published = subprocess.run(
        [sys.executable, "-m", "ml.release.publish", "--bento", tag, "--bucket", registry],
        env=bentoml_env(home),
        capture_output=True,
        text=True,
        check=False,
    )
    assert published.returncode == 0, published.stderr
    set_production(registry, version)

    outcome = run_gate(model_files["strong"])

    assert outcome.status == 0, outcome.stderr
    assert (outcome.report["verdict"], outcome.report["champion"]["version"]) == ("pass", version)


def test_a_stacks_rollout_compares_with_that_stacks_stage(
    registry: str, use_params: Any, run_gate: Any, model_files: dict[str, Path]
) -> None:
    # dev's stage is staging: a production alias in dev's registry is not what dev serves.
    set_production(registry, "v1", model_files["shipped"])
    set_production(registry, "v2", model_files["strong"], stage="staging")

    outcome = run_gate(model_files["close"], "--stack", "dev")

    assert outcome.status == 0, outcome.stderr
    assert outcome.report["champion"]["alias"] == "staging"
    assert outcome.report["champion"]["version"] == "v2"
    assert "| staging (`v2`) |" in outcome.stdout
    assert run_gate(model_files["close"], "--stack", "nowhere").status == 2
