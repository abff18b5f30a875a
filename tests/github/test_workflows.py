"""The GitHub workflows: linted by actionlint and zizmor, and held to the project's own rules."""

from __future__ import annotations

import re
import shlex
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from ml.ci.pr_report import COMMENT_FILE
from ml.core.paths import REPO_ROOT

GITHUB = REPO_ROOT / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
# Publishers whose actions may be referenced by major version tag (.github/zizmor.yml).
REF_PINNED = ("actions/", "aws-actions/", "pulumi/", "peter-evans/", "marocchino/")
SAME_REPO = "github.event.pull_request.head.repo.full_name == github.repository"


def load(path: Path) -> dict[str, Any]:
    # PyYAML reads the `on:` key as the boolean True.
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))
    return data


def jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [(p.name, name, job) for p in WORKFLOWS for name, job in load(p)["jobs"].items()]


def steps() -> list[tuple[str, dict[str, Any]]]:
    return [(f"{wf}:{job}", s) for wf, job, spec in jobs() for s in spec.get("steps", [])]


@cache
def make_targets() -> dict[str, list[str]]:
    """Every target of the Makefile as make itself reads it, with its prerequisites."""
    database = subprocess.run(
        ["make", "-pRrq", "-f", "Makefile"], cwd=REPO_ROOT, capture_output=True, text=True
    ).stdout
    targets = {}
    for line in database.splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+):(?!=)(.*)$", line)
        if match:
            targets[match.group(1)] = match.group(2).split()
    return targets


def make_calls(script: str) -> list[str]:
    """The targets a `run:` script asks make for."""
    words = shlex.split(script)
    if words[:1] != ["make"]:
        return []
    return [w for w in words[1:] if not w.startswith("-") and "=" not in w]


def test_there_are_the_workflows_the_project_documents() -> None:
    names = {p.name for p in WORKFLOWS}
    expected = {"pr.yml", "deploy.yml", "infra.yml", "retrain.yml", "rollout.yml", "release.yml"}
    expected |= {"audit.yml"}
    assert names >= expected


def test_actionlint_and_zizmor_report_nothing() -> None:
    result = subprocess.run(
        ["make", "--no-print-directory", "lint-workflows"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"actionlint: {len(WORKFLOWS)} files, 0 findings" in output
    assert "No findings to report" in output


def test_every_run_step_is_a_make_target_that_exists() -> None:
    targets = make_targets()
    for where, step in steps():
        if "run" not in step:
            continue
        called = make_calls(step["run"])
        assert called, f"{where}: `{step['run']}` is not a make call"
        missing = [t for t in called if t not in targets]
        assert not missing, f"{where}: no make target {missing}"


def test_make_ci_runs_what_the_pull_request_workflow_runs() -> None:
    pr = load(GITHUB / "workflows" / "pr.yml")
    called = [
        target
        for job in pr["jobs"].values()
        for step in job.get("steps", [])
        for target in make_calls(step.get("run", ""))
    ]
    # Installing tools, the environment and the stack's outputs are not steps of the check itself.
    checks = [t for t in called if t not in {"ci-tools", "setup", "stack-env"}]
    assert make_targets()["ci"] == checks == ["test", "audit", "ci-repro", "gate", "pr-report"]


def expressions_in_run(workflow: dict[str, Any]) -> list[str]:
    """`run:` scripts with a `${{ }}` expression: GitHub pastes it into the shell text, so a
    PR title, branch name or dispatch payload there could run as code. Values go via `env:`."""
    return [
        step["run"]
        for job in workflow["jobs"].values()
        for step in job.get("steps", [])
        if "${{" in step.get("run", "")
    ]


def test_untrusted_input_never_reaches_a_shell() -> None:
    for path in WORKFLOWS:
        assert expressions_in_run(load(path)) == [], path.name
    bad = {"jobs": {"a": {"steps": [{"run": "echo ${{ github.event.client_payload.x }}"}]}}}
    assert expressions_in_run(bad) == ["echo ${{ github.event.client_payload.x }}"]


def test_no_pull_request_target_and_no_write_default_permissions() -> None:
    for path in WORKFLOWS:
        workflow = load(path)
        triggers = workflow["on"]
        assert "pull_request_target" not in (triggers or {}), path.name
        assert workflow["permissions"] == {}, f"{path.name}: top-level permissions must be {{}}"
    for wf, name, job in jobs():
        assert "permissions" in job, f"{wf}:{name} declares no permissions"


def test_oidc_tokens_only_where_aws_is_used() -> None:
    for wf, name, job in jobs():
        permissions = job.get("permissions") or {}
        uses_aws = job.get("uses", "").endswith("rollout.yml") or any(
            s.get("uses", "").startswith("aws-actions/configure-aws-credentials")
            for s in job.get("steps", [])
        )
        assert (permissions.get("id-token") == "write") == uses_aws, f"{wf}:{name}"


def test_pull_request_credentials_only_for_the_repository_itself() -> None:
    for path in WORKFLOWS:
        workflow = load(path)
        if "pull_request" not in (workflow["on"] or {}):
            continue
        for name, job in workflow["jobs"].items():
            for step in job.get("steps", []):
                if step.get("uses", "").startswith(("aws-actions/", "pulumi/")):
                    assert SAME_REPO in " ".join(str(step.get("if", "")).split()), (
                        f"{path.name}:{name}: {step['uses']} must skip forks' pull requests"
                    )
        comment = workflow["jobs"].get("comment")
        if comment:
            assert SAME_REPO in " ".join(comment["if"].split())


def test_static_keys_are_never_used() -> None:
    for where, step in steps():
        given = step.get("with", {})
        assert "aws-access-key-id" not in given, where
        if step.get("uses", "").startswith("aws-actions/configure-aws-credentials"):
            assert given["role-to-assume"].startswith("${{ "), where


def test_actions_are_referenced_by_major_version_from_known_publishers() -> None:
    for where, step in steps():
        uses = step.get("uses")
        if not uses:
            continue
        action, _, ref = uses.partition("@")
        assert action.startswith(REF_PINNED), f"{where}: {uses} needs a commit SHA pin"
        assert re.fullmatch(r"v\d+", ref), f"{where}: {uses} should name a major version"


def test_each_stack_rolls_out_one_at_a_time_behind_its_environment() -> None:
    (job,) = load(GITHUB / "workflows" / "rollout.yml")["jobs"].values()
    assert job["environment"] == "${{ inputs.stack }}"
    assert job["concurrency"] == {
        "group": "stack-${{ inputs.stack }}",
        "cancel-in-progress": False,
    }
    deploy = load(GITHUB / "workflows" / "deploy.yml")["jobs"]
    assert deploy["prod"]["needs"] == "dev"
    assert deploy["prod"]["with"]["stack"] == "prod"


def test_the_sticky_comment_posts_the_report_file() -> None:
    pr = load(GITHUB / "workflows" / "pr.yml")
    sticky = next(s for s in pr["jobs"]["comment"]["steps"] if "sticky" in s.get("uses", ""))
    assert sticky["with"]["path"].endswith(f"/{COMMENT_FILE}")
    assert sticky["with"]["header"]
    retrain = load(GITHUB / "workflows" / "retrain.yml")
    create = next(
        s for s in retrain["jobs"]["retrain"]["steps"] if "create-pull" in s.get("uses", "")
    )
    assert create["with"]["body-path"].endswith(f"/{COMMENT_FILE}")


def test_retraining_listens_for_the_drift_dispatch() -> None:
    from ml.monitoring.dispatch import EVENT_TYPE

    triggers = load(GITHUB / "workflows" / "retrain.yml")["on"]
    assert triggers["repository_dispatch"]["types"] == [EVENT_TYPE]
    assert {"schedule", "workflow_dispatch"} <= set(triggers)


@pytest.mark.parametrize("ecosystem", ["github-actions", "pip"])
def test_dependabot_updates_actions_and_python_packages(ecosystem: str) -> None:
    config = yaml.safe_load((GITHUB / "dependabot.yml").read_text(encoding="utf-8"))
    (entry,) = [u for u in config["updates"] if u["package-ecosystem"] == ecosystem]
    assert entry["cooldown"]["default-days"] >= 1
