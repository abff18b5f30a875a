"""The infrastructure part of the pull-request report: the offline plan of each stack on the base
and on this branch, the monthly cost difference, and `pulumi preview` where credentials allow."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ml.ci import BIN, aws_credentials, capture, clean_env
from ml.ci.markdown import MAX_ROWS, Report, code, cut, details
from ml.ci.stack import preview_command, set_deployed_config
from ml.core.artifacts import ShipError

# The plan's module, newest layout first: a base from before a move still gets planned.
PLAN_MODULES = ("infra.tools.plan", "infra.plan")


def export_tree(ref: str, dest: Path, root: Path) -> None:
    """The files of `ref` in `dest` (git archive: reads the repository, changes nothing)."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref], cwd=root, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        # The "data" filter where this Python has it (3.11.4 and later); the archive is our own.
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(dest, **safe)  # noqa: S202


def plan_module(tree: Path) -> str | None:
    """The offline plan's module in `tree`, or None when it has none (an old base)."""
    for module in PLAN_MODULES:
        if (tree / Path(*module.split("."))).with_suffix(".py").is_file():
            return module
    return None


def run_plan(
    stack: str, source: Path, out_file: Path, module: str = PLAN_MODULES[0]
) -> subprocess.CompletedProcess[str]:
    """The offline plan (`python -m <module>`) of the tree at `source`, JSON into `out_file`."""
    result = capture(
        [str(BIN / "python"), "-m", module, "--stack", stack, "--format", "json"],
        cwd=source,
        env=clean_env(PYTHONPATH=str(source)),
    )
    if result.returncode == 0:
        out_file.write_text(result.stdout, encoding="utf-8")
    return result


def _by_previous_urn(base: Mapping[str, Any], head: Mapping[str, Any]) -> dict[str, str]:
    """Base URN -> head URN for resources whose URN changed with an alias (a renamed type)."""
    known = {r["urn"] for r in base.get("resources", [])}
    return {
        alias: r["urn"]
        for r in head.get("resources", [])
        for alias in r.get("aliases", ())
        if alias in known and r["urn"] not in known
    }


def plan_diff(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(change, type, name) of every resource added, removed or with different inputs; a
    resource whose URN changed but that aliases its old one is the same resource."""
    renamed = _by_previous_urn(base, head)
    before = {renamed.get(r["urn"], r["urn"]): r for r in base.get("resources", [])}
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
        report.add(f"Monthly cost: {stack}", code(result.stderr))
    else:
        report.add(None, cut(result.stdout))  # infra.tools.cost's markdown has its own heading


def stack_sections(
    report: Report, base: str, stack: str, base_tree: Path, out: Path, root: Path
) -> None:
    head_file, base_file = out / f"plan-{stack}.json", out / f"plan-{stack}-base.json"
    head = run_plan(stack, root, head_file)
    if head.returncode:
        report.failures.append(f"offline plan of {stack}")
        report.add(f"Plan: {stack}", "The plan fails on this branch:\n\n" + code(head.stderr))
        return
    # Without the module at the base, Python would import this branch's instead.
    module = plan_module(base_tree)
    old = run_plan(stack, base_tree, base_file, module) if module else None
    if old is None or old.returncode:
        why = details("base output", code(old.stderr)) if old else ""
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
    report.add(f"Preview: {stack}", details("pulumi preview", code(output)))
