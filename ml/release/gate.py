"""`make gate`: champion/challenger, the candidate against the production model, after `dvc repro`.

    python -m ml.release.gate [--champion-file PATH] [--bucket NAME] [--stack STACK]
                              [--candidate PATH] [--rows PATH] [--out PATH]

Both models are scored on the same held-out rows (data/prepared/test.csv, the evaluate stage's)
with the evaluate stage's metrics. The candidate fails when a metric is below its threshold
(params.evaluate.thresholds) or more than its margin below production's
(params.evaluate.champion.margins); a stack's rollout (--stack) compares with the version that
stack's stage names (dev: staging, prod: production). Where it comes from is
ml/release/champion.py's business: without one (no registry configured, no such alias yet) the
verdict is `thresholds-only` and says why; a lookup that fails is the verdict `error`, never a pass.

Not a DVC stage: the production model changes outside the pipeline, and a no-op `dvc repro`
must stay fast. Writes reports/gate.json (gitignored: it depends on the registry, not only on
the commit) whatever the verdict, prints the markdown table the pull-request report shows (and
appends it to the job summary in GitHub Actions), and exits 0 on `pass` or `thresholds-only`,
1 on `fail`, 2 on `error`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.core.artifacts import BUCKET_ENV, ShipError, write_summary
from ml.core.cli import emit
from ml.core.features import TARGET
from ml.core.params import EvaluateParams, stage_params
from ml.core.paths import MODEL_FILE, REPORTS_DIR, TEST_FILE
from ml.pipeline.evaluate import DECIMALS, gate, score
from ml.pipeline.lineage import file_md5
from ml.pipeline.schema import read_table
from ml.pipeline.train import features, load_model
from ml.release.aliases import required_stack_alias
from ml.release.champion import PRODUCTION, Champion, ChampionError, find_champion, shown

GATE_FILE = REPORTS_DIR / "gate.json"
TITLE = "Candidate vs production"
PASS, FAIL, THRESHOLDS_ONLY, ERROR = "pass", "fail", "thresholds-only", "error"
EXIT_CODES = {PASS: 0, THRESHOLDS_ONLY: 0, FAIL: 1, ERROR: 2}


def model_metrics(model: Any, rows: pd.DataFrame) -> dict[str, float]:
    """The evaluate stage's metrics of `model` on `rows`."""
    actual = rows[TARGET].to_numpy()
    predicted = np.asarray(model.predict(features(rows)))
    probability = model.predict_proba(features(rows))[:, 1]
    return score(actual, predicted, probability)


def champion_metrics(champion: Champion, rows: pd.DataFrame) -> dict[str, float] | None:
    if champion.model is None:
        return None
    try:
        return model_metrics(champion.model, rows)
    # A production model trained on other features cannot score these rows: no comparison.
    except (ValueError, TypeError, AttributeError, KeyError) as error:
        raise ChampionError(
            f"the {champion.note} cannot score the held-out rows: {error}"
        ) from None


def _number(value: float) -> str:
    return f"{value:.{DECIMALS}f}"


def compare(
    candidate: Mapping[str, float],
    production: Mapping[str, float] | None,
    margins: Mapping[str, float],
) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per metric (difference, margin, whether it holds) and a message per failure."""
    rows, failures = [], []
    for name, value in candidate.items():
        margin = margins.get(name)
        theirs = None if production is None else production[name]
        delta = None if theirs is None else round(value - theirs, DECIMALS)
        within = None if delta is None or margin is None else delta >= -margin
        rows.append(
            {"metric": name, "candidate": value, "production": theirs, "delta": delta}
            | {"margin": margin, "within_margin": within}
        )
        if within is False and theirs is not None and margin is not None:
            failures.append(
                f"gate: candidate {name} {_number(value)} is {_number(theirs - value)} below "
                f"production's {_number(theirs)} (margin {_number(margin)})"
            )
    return rows, failures


def _with_thresholds(rows: list[dict[str, Any]], thresholds: Mapping[str, float]) -> None:
    for row in rows:
        row["threshold"] = thresholds.get(row["metric"])
        row["meets_threshold"] = row["threshold"] is None or row["candidate"] >= row["threshold"]


def judge(
    candidate: Mapping[str, float],
    champion: Champion,
    production: Mapping[str, float] | None,
    params: EvaluateParams,
) -> dict[str, Any]:
    """The gate's report: the verdict, both models' metrics, the margins, every failure."""
    margins = params.champion.margins.model_dump(exclude_none=True)
    thresholds = params.thresholds.model_dump()
    rows, failures = compare(candidate, production, margins)
    _with_thresholds(rows, thresholds)
    failures = gate(dict(candidate), params.thresholds) + failures
    note = champion.note
    if failures:
        verdict = FAIL
    elif production is None:
        verdict = THRESHOLDS_ONLY
    elif not margins:
        verdict = THRESHOLDS_ONLY
        note += ", but no margins in params.evaluate.champion.margins"
    else:
        verdict = PASS
    return {
        "verdict": verdict,
        "note": note,
        "champion": champion.record(),
        "candidate": dict(candidate),
        "production": None if production is None else dict(production),
        "margins": margins,
        "thresholds": thresholds,
        "metrics": rows,
        "failures": failures,
    }


def error_report(
    candidate: Mapping[str, float],
    params: EvaluateParams,
    error: ChampionError,
    stage: str = PRODUCTION,
) -> dict[str, Any]:
    """The report of a gate that could not look production up: it did not pass."""
    thresholds = params.thresholds.model_dump()
    rows, _ = compare(candidate, None, {})
    _with_thresholds(rows, thresholds)
    return {
        "verdict": ERROR,
        "note": str(error),
        "champion": {"source": None, "alias": stage, "version": None, "where": None}
        | {"note": str(error)},
        "candidate": dict(candidate),
        "production": None,
        "margins": params.champion.margins.model_dump(exclude_none=True),
        "thresholds": thresholds,
        "metrics": rows,
        "failures": [f"gate: {error}", *gate(dict(candidate), params.thresholds)],
    }


def _cell(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.{DECIMALS}f}" if signed else _number(value)


def _result(row: Mapping[str, Any]) -> str:
    problems = []
    if row.get("meets_threshold") is False:
        problems.append("below threshold")
    if row.get("within_margin") is False:
        problems.append("beyond margin")
    if problems:
        return "**fails: " + ", ".join(problems) + "**"
    return "ok" if row.get("within_margin") else "ok (not compared)"


VERDICT_TEXT = {
    PASS: "**Verdict: pass.** The candidate is within the margins of the {note}.",
    FAIL: "**Verdict: fail.** Compared with the {note}.",
    THRESHOLDS_ONLY: "**Verdict: thresholds only** ({note}): the absolute thresholds alone decide.",
    ERROR: "**Verdict: error.** The gate could not look the production model up, so it did not "
    "pass: {note}.",
}


def render(report: Mapping[str, Any]) -> str:
    """The markdown the pull-request report and the job summary show."""
    verdict = str(report.get("verdict"))
    template = VERDICT_TEXT.get(verdict, "**Verdict: " + verdict + ".** {note}")
    lines = [template.format(note=str(report.get("note", "")).rstrip(".")), ""]
    champion = report.get("champion") or {}
    version, stage = champion.get("version"), champion.get("alias") or "production"
    production = f"{stage} (`{version}`)" if version else stage
    lines += [
        f"| metric | candidate | {production} | difference | margin | threshold | result |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in report.get("metrics", []):
        cells = [
            f"`{row['metric']}`",
            _cell(row["candidate"]),
            _cell(row["production"]),
            _cell(row["delta"], signed=True),
            _cell(row["margin"]),
            _cell(row.get("threshold")),
            _result(row),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    failures = report.get("failures") or []
    if failures:
        lines += ["", *(f"- {message}" for message in failures)]
    return "\n".join(lines) + "\n"


def write_report(report: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def run_gate(
    candidate_file: Path,
    rows_file: Path,
    params: EvaluateParams,
    model_name: str,
    champion_file: Path | None = None,
    bucket: str | None = None,
    s3: Any = None,
    stage: str = PRODUCTION,
) -> dict[str, Any]:
    """Score the candidate and production on the same rows and judge; the report, any verdict."""
    rows = read_table(rows_file)
    candidate = model_metrics(load_model(candidate_file), rows)
    try:
        champion = find_champion(model_name, champion_file, bucket, s3, stage)
        production = champion_metrics(champion, rows)
    except ChampionError as error:
        report = error_report(candidate, params, error, stage)
    else:
        report = judge(candidate, champion, production, params)
    return {"model": model_name, "candidate_md5": file_md5(candidate_file), **report}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--champion-file", type=Path, help="a local production model (default: the params' file)"
    )
    parser.add_argument("--bucket", help=f"the registry's bucket (default: ${BUCKET_ENV})")
    parser.add_argument(
        "--stack", help="compare with the model this stack's stage names (default: production)"
    )
    parser.add_argument("--candidate", type=Path, default=MODEL_FILE, help="the candidate model")
    parser.add_argument("--rows", type=Path, default=TEST_FILE, help="the held-out rows")
    parser.add_argument("--out", type=Path, default=GATE_FILE, help="where the report goes")
    options = parser.parse_args(argv)
    params = stage_params()
    configured = params.evaluate.champion.file
    champion_file = options.champion_file or (Path(configured) if configured else None)
    bucket = options.bucket or os.environ.get(BUCKET_ENV) or None
    missing = [path for path in (options.candidate, options.rows) if not path.is_file()]
    if missing:
        names = ", ".join(shown(path) for path in missing)
        print(f"gate: {names} not found: run `dvc repro` first", file=sys.stderr)
        return 2
    try:
        stage = required_stack_alias(options.stack) if options.stack else PRODUCTION
    except ShipError as error:
        print(f"gate: {error}", file=sys.stderr)
        return 2
    report = run_gate(
        options.candidate,
        options.rows,
        params.evaluate,
        params.package.model_name,
        champion_file,
        bucket,
        stage=stage,
    )
    write_report(report, options.out)
    markdown = f"### {TITLE}\n\n{render(report)}"
    emit(markdown)
    write_summary(markdown)
    for message in report["failures"]:
        print(message, file=sys.stderr)
    if report["verdict"] == THRESHOLDS_ONLY:
        print(f"gate: {report['note']}: thresholds only", file=sys.stderr)
    return EXIT_CODES[report["verdict"]]


if __name__ == "__main__":
    raise SystemExit(main())
