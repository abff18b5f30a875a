"""`make pr-report BASE=<ref>`: the body of the pull request's sticky comment.

    python -m ml.ci.pr_report --base origin/main [--stacks dev prod] [--out DIR] [--preview]

What a reviewer needs to judge a change, each part against the base branch:
- `dvc metrics diff` and `dvc params diff` (markdown tables);
- candidate vs production, side by side with the margins and the verdict, from the report
  `make gate` wrote (reports/gate.json; ml/release/gate.py), or a line saying the gate did not run;
- `dvc plots diff` as HTML that opens offline (`make plots`), in the run's `pr-report` artifact;
- the offline plan of each stack (`python -m infra.tools.plan`, no cloud access) on the base and on
  this branch, as resources added, removed and changed;
- the monthly cost difference of that plan (`python -m infra.tools.cost --base`);
- with `--preview` and AWS credentials, `pulumi preview` of the first stack with the read-only
  plan role; without credentials it says it skipped, so a fork's pull request still gets the rest.

Writes <out>/comment.md (and the job summary in GitHub Actions). Exits non-zero when this
branch's own plan or preview fails, or its gate verdict is `fail` or `error`, after writing the
report; differences against a base that
cannot produce them (no metrics yet, no plan module) are reported, never fatal.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path

from ml.ci import capture, tool
from ml.ci.infra_report import infra_sections, preview_section
from ml.ci.markdown import Report, code, cut
from ml.core.artifacts import run_url, write_summary
from ml.core.cli import emit
from ml.core.paths import MODEL_FILE, REPO_ROOT
from ml.pipeline import plots
from ml.pipeline.lineage import file_md5
from ml.release import gate

COMMENT_FILE = "comment.md"
PLOTS_DIR = "plots"
DEFAULT_STACKS = ("dev", "prod")


def dvc_section(report: Report, title: str, args: Sequence[str], root: Path) -> None:
    result = capture([tool("dvc"), *args], cwd=root)
    if result.returncode:
        report.add(title, "Could not compare:\n\n" + code(result.stderr or result.stdout))
    else:
        report.add(title, cut(result.stdout) or "No change.")


def plots_section(report: Report, base: str, out: Path, root: Path) -> None:
    """The page `make plots` writes, vega beside it, so the artifact opens offline too."""
    try:
        page = plots.render(out / PLOTS_DIR, base, root)
    except plots.PlotsError as error:
        report.add("Plots", "Could not render:\n\n" + code(str(error)))
        return
    url = run_url()
    if url:
        where = f"`{PLOTS_DIR}/{page.name}` in the `pr-report` artifact of [this run]({url})"
    else:
        where = f"`{page}`"
    report.add("Plots", f"`dvc plots diff {base}`: {where}, opens offline.")


def gate_section(report: Report, gate_file: Path, model_file: Path, root: Path) -> None:
    """Candidate vs production as the gate judged them; a failing verdict heads the report."""
    shown = gate_file.relative_to(root) if gate_file.is_relative_to(root) else gate_file
    if not gate_file.is_file():
        report.add(gate.TITLE, f"The gate did not run (no `{shown}`): `make gate` writes it.")
        return
    try:
        result = json.loads(gate_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        report.add(gate.TITLE, f"Could not read `{shown}`:\n\n" + code(str(error)))
        report.failures.append("champion/challenger gate (unreadable report)")
        return
    body = gate.render(result)
    # A report left from an earlier run judged another model: say so rather than mislead.
    if model_file.is_file() and result.get("candidate_md5") != file_md5(model_file):
        stale = f"the gate scored another model than `{model_file.name}`; run `make gate`"
        body = f"**Stale:** {stale}.\n\n{body}"
    verdict = result.get("verdict")
    if verdict in (gate.FAIL, gate.ERROR):
        report.failures.append(f"champion/challenger gate ({verdict})")
    report.add(gate.TITLE, body)


def trigger_note() -> str:
    """Why a scheduled or dispatched run happened (the retraining workflow's pull request)."""
    event = os.environ.get("GITHUB_EVENT_NAME", "")
    path = os.environ.get("GITHUB_EVENT_PATH", "")
    if event == "schedule":
        return "Scheduled retraining on the latest data."
    if event == "workflow_dispatch":
        return "Retraining started by hand."
    if event != "repository_dispatch" or not path:
        return ""
    payload = json.loads(Path(path).read_text(encoding="utf-8")).get("client_payload") or {}
    drifted = [str(f).replace("`", "") for f in payload.get("drifted_features") or []]
    lines = ["Retraining after drift was detected in production data."]
    if drifted:
        lines.append("Drifted features: " + ", ".join(f"`{f}`" for f in drifted[:30]) + ".")
    if payload.get("class_shift_detected"):
        lines.append("The predicted class balance shifted too.")
    return " ".join(lines)


def build(
    base: str,
    stacks: Sequence[str],
    out: Path,
    preview: bool,
    root: Path,
    gate_file: Path | None = None,
) -> Report:
    report = Report()
    dvc_section(report, "Metrics", ["metrics", "diff", base, "--all", "--md"], root)
    gate_file = gate_file or root / gate.GATE_FILE.relative_to(REPO_ROOT)
    gate_section(report, gate_file, root / MODEL_FILE.relative_to(REPO_ROOT), root)
    dvc_section(report, "Params", ["params", "diff", base, "--md"], root)
    plots_section(report, base, out, root)
    if stacks:
        infra_sections(report, base, stacks, out, root)
    if preview and stacks:
        preview_section(report, stacks[0], root)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="git ref to compare with (origin/main)")
    parser.add_argument("--stacks", nargs="*", default=list(DEFAULT_STACKS), help="none: no plan")
    parser.add_argument("--title", default="Pull request report")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / ".pr-report")
    parser.add_argument("--preview", action="store_true", help="pulumi preview (needs AWS)")
    parser.add_argument("--gate", type=Path, help="the gate's report (default: reports/gate.json)")
    options = parser.parse_args(argv)
    options.out.mkdir(parents=True, exist_ok=True)
    report = build(
        options.base, options.stacks, options.out, options.preview, REPO_ROOT, options.gate
    )
    body = report.markdown(options.title, options.base, trigger_note())
    (options.out / COMMENT_FILE).write_text(body, encoding="utf-8")
    write_summary(body)
    emit(body)
    return 1 if report.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
