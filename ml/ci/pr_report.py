"""`make pr-report BASE=<ref>`: the body of the pull request's sticky comment.

    python -m ml.ci.pr_report --base origin/main [--stacks dev prod] [--out DIR] [--preview]

What a reviewer needs to judge a change, each part against the base branch:
- `dvc metrics diff` and `dvc params diff` (markdown tables);
- `dvc plots diff` as HTML, in the run's `pr-report` artifact;
- the offline plan of each stack (`python -m infra.tools.plan`, no cloud access) on the base and on
  this branch, as resources added, removed and changed;
- the monthly cost difference of that plan (`python -m infra.tools.cost --base`);
- with `--preview` and AWS credentials, `pulumi preview` of the first stack with the read-only
  plan role; without credentials it says it skipped, so a fork's pull request still gets the rest.

Writes <out>/comment.md (and the job summary in GitHub Actions). Exits non-zero when this
branch's own plan or preview fails, after writing the report; differences against a base that
cannot produce them (no metrics yet, no plan module) are reported, never fatal.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml.ci import BIN, aws_credentials, capture, clean_env, tool
from ml.ci.stack import preview_command, set_deployed_config
from ml.core.artifacts import ShipError, run_url, write_summary
from ml.core.paths import REPO_ROOT

COMMENT_FILE = "comment.md"
PLOTS_DIR = "plots"
# GitHub refuses comments over 65,536 characters; each block is cut well below that.
BLOCK_LIMIT = 12_000
MAX_ROWS = 40
DEFAULT_STACKS = ("dev", "prod")
PLAN_MODULE = Path("infra") / "plan.py"


@dataclass
class Report:
    sections: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def add(self, title: str | None, body: str) -> None:
        heading = f"### {title}\n\n" if title else ""
        self.sections.append(f"{heading}{body.strip()}\n")

    def markdown(self, title: str, base: str, note: str = "") -> str:
        head = f"## {title} (against `{base}`)\n\n" + (f"{note}\n\n" if note else "")
        if self.failures:
            head += "**Failed:** " + "; ".join(self.failures) + "\n\n"
        return head + "\n".join(self.sections)


def _cut(text: str, limit: int = BLOCK_LIMIT) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    return text[: limit // 2] + "\n\n[... cut ...]\n\n" + text[-limit // 2 :]


def _code(text: str) -> str:
    return f"```\n{_cut(text)}\n```"


def _details(summary: str, body: str) -> str:
    return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>"


# --- DVC -----------------------------------------------------------------------------------------


def dvc_section(report: Report, title: str, args: Sequence[str], root: Path) -> None:
    result = capture([tool("dvc"), *args], cwd=root)
    if result.returncode:
        report.add(title, "Could not compare:\n\n" + _code(result.stderr or result.stdout))
    else:
        report.add(title, _cut(result.stdout) or "No change.")


def plots_section(report: Report, base: str, out: Path, root: Path) -> None:
    target = out / PLOTS_DIR
    result = capture([tool("dvc"), "plots", "diff", base, "--out", str(target)], cwd=root)
    if result.returncode:
        report.add("Plots", "Could not render:\n\n" + _code(result.stderr or result.stdout))
        return
    url = run_url()
    if url:
        where = f"`{PLOTS_DIR}/index.html` in the `pr-report` artifact of [this run]({url})"
    else:
        where = f"`{target / 'index.html'}`"
    report.add("Plots", f"`dvc plots diff {base}`: {where}.")


# --- Offline plan and cost -----------------------------------------------------------------------


def export_tree(ref: str, dest: Path, root: Path) -> None:
    """The files of `ref` in `dest` (git archive: reads the repository, changes nothing)."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref], cwd=root, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")


def run_plan(stack: str, source: Path, out_file: Path) -> subprocess.CompletedProcess[str]:
    """`python -m infra.tools.plan` of the tree at `source`, JSON into `out_file`."""
    result = capture(
        [str(BIN / "python"), "-m", "infra.tools.plan", "--stack", stack, "--format", "json"],
        cwd=source,
        env=clean_env(PYTHONPATH=str(source)),
    )
    if result.returncode == 0:
        out_file.write_text(result.stdout, encoding="utf-8")
    return result


def plan_diff(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(change, type, name) of every resource added, removed or with different inputs."""
    before = {r["urn"]: r for r in base.get("resources", [])}
    after = {r["urn"]: r for r in head.get("resources", [])}
    rows = [("added", after[u]["type"], after[u]["name"]) for u in sorted(after.keys() - before)]
    rows += [
        ("removed", before[u]["type"], before[u]["name"]) for u in sorted(before.keys() - after)
    ]
    for urn in sorted(before.keys() & after.keys()):
        old, new = before[urn].get("inputs", {}), after[urn].get("inputs", {})
        changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        if changed:
            name = f"{after[urn]['name']} ({', '.join(changed[:6])})"
            rows.append(("changed", after[urn]["type"], name))
    return rows


def plan_table(rows: list[tuple[str, str, str]]) -> str:
    if not rows:
        return "No resource changes."
    lines = ["| change | type | resource |", "| --- | --- | --- |"]
    lines += [f"| {c} | `{t}` | {n} |" for c, t, n in rows[:MAX_ROWS]]
    if len(rows) > MAX_ROWS:
        lines.append(f"| ... | {len(rows) - MAX_ROWS} more | |")
    return "\n".join(lines)


def cost_section(report: Report, stack: str, head: Path, base: Path | None, root: Path) -> None:
    compare = ["--base", str(base)] if base else []
    cmd = [str(BIN / "python"), "-m", "infra.tools.cost", "--stack", stack, "--plan", str(head)]
    result = capture([*cmd, *compare, "--format", "markdown"], cwd=root, env=clean_env())
    if result.returncode:
        report.add(f"Monthly cost: {stack}", _code(result.stderr))
    else:
        report.add(None, _cut(result.stdout))  # infra.tools.cost's markdown has its own heading


def stack_sections(
    report: Report, base: str, stack: str, base_tree: Path, out: Path, root: Path
) -> None:
    head_file, base_file = out / f"plan-{stack}.json", out / f"plan-{stack}-base.json"
    head = run_plan(stack, root, head_file)
    if head.returncode:
        report.failures.append(f"offline plan of {stack}")
        report.add(f"Plan: {stack}", "The plan fails on this branch:\n\n" + _code(head.stderr))
        return
    # Without the module at the base, Python would import this branch's instead.
    old = run_plan(stack, base_tree, base_file) if (base_tree / PLAN_MODULE).is_file() else None
    if old is None or old.returncode:
        why = _details("base output", _code(old.stderr)) if old else ""
        report.add(
            f"Plan: {stack}",
            f"No plan of `{base}` to compare with (a new stack, or no plan module there).\n\n{why}",
        )
        cost_section(report, stack, head_file, None, root)
        return
    rows = plan_diff(json.loads(base_file.read_text()), json.loads(head_file.read_text()))
    report.add(f"Plan: {stack}", plan_table(rows))
    cost_section(report, stack, head_file, base_file, root)


def infra_sections(report: Report, base: str, stacks: Sequence[str], out: Path, root: Path) -> None:
    base_tree = out / "base-tree"
    shutil.rmtree(base_tree, ignore_errors=True)
    base_tree.mkdir(parents=True)
    try:
        export_tree(base, base_tree, root)
        for stack in stacks:
            stack_sections(report, base, stack, base_tree, out, root)
    except subprocess.CalledProcessError as error:
        report.add("Infrastructure", f"Cannot read `{base}`: {error.stderr.decode().strip()}")
    finally:
        shutil.rmtree(base_tree, ignore_errors=True)


def preview_section(report: Report, stack: str, root: Path) -> None:
    if not aws_credentials():
        report.add(
            f"Preview: {stack}",
            "Skipped: no AWS credentials (a fork's pull request, or the repository has no "
            "AWS_PLAN_ROLE_ARN variable).",
        )
        return
    if not shutil.which("pulumi"):
        report.add(f"Preview: {stack}", "Skipped: the Pulumi CLI is not installed here.")
        return
    try:
        set_deployed_config(stack)
    except ShipError as error:
        report.failures.append(f"pulumi preview of {stack}")
        report.add(f"Preview: {stack}", f"Could not keep the deployed model: {error}")
        return
    result = capture(preview_command(stack), cwd=root)
    output = result.stdout + result.stderr
    if result.returncode:
        report.failures.append(f"pulumi preview of {stack}")
    report.add(f"Preview: {stack}", _details("pulumi preview", _code(output)))


# --- The report ----------------------------------------------------------------------------------


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


def build(base: str, stacks: Sequence[str], out: Path, preview: bool, root: Path) -> Report:
    report = Report()
    dvc_section(report, "Metrics", ["metrics", "diff", base, "--all", "--md"], root)
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
    options = parser.parse_args(argv)
    options.out.mkdir(parents=True, exist_ok=True)
    report = build(options.base, options.stacks, options.out, options.preview, REPO_ROOT)
    body = report.markdown(options.title, options.base, trigger_note())
    (options.out / COMMENT_FILE).write_text(body, encoding="utf-8")
    write_summary(body)
    print(body)
    return 1 if report.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
