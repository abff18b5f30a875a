"""The README's GitHub setup: every setting the workflows read; the first-time steps, in order."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ml.core.paths import REPO_ROOT

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
# GitHub provides these itself; nobody sets them.
PROVIDED = {"GITHUB_TOKEN"}


def section(title: str) -> str:
    """The README's `### <title>` section, up to the next heading."""
    match = re.search(rf"(?ms)^### {re.escape(title)}\n(.*?)(?=^#)", README)
    assert match, f"README.md has no section `### {title}`"
    return match.group(1)


def setup_table() -> str:
    lines = section("GitHub access (OIDC, no stored keys)").splitlines()
    return "\n".join(line for line in lines if line.startswith("|"))


def read_settings(kind: str) -> dict[str, set[str]]:
    """`vars` or `secrets` name -> the workflows whose expressions read it."""
    found: dict[str, set[str]] = {}
    for path in WORKFLOWS:
        for name in re.findall(rf"\b{kind}\.([A-Za-z_][A-Za-z0-9_]*)", path.read_text()):
            found.setdefault(name, set()).add(path.name)
    return {name: files for name, files in found.items() if name not in PROVIDED}


def workflow_call(path: Path) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    triggers = data.get(True, data.get("on")) or {}
    return (triggers.get("workflow_call") or {}) if isinstance(triggers, dict) else {}


def test_the_workflows_read_variables_and_secrets() -> None:
    # The check below means something only while the workflows read settings at all.
    assert "AWS_REGION" in read_settings("vars")
    assert "PULUMI_ACCESS_TOKEN" in read_settings("secrets")


def test_every_variable_and_secret_the_workflows_read_is_in_the_setup_table() -> None:
    table = setup_table()
    declared = {name for path in WORKFLOWS for name in workflow_call(path).get("secrets") or {}}
    names = {**read_settings("vars"), **read_settings("secrets")}
    missing = {name: sorted(files) for name, files in names.items() if f"`{name}`" not in table}
    assert not missing, f"README's GitHub setup table lacks {missing}"
    assert all(f"`{name}`" in table for name in declared)


def test_reusable_workflows_get_every_secret_they_read() -> None:
    """A called workflow's secret is empty unless it declares it and each caller passes it."""
    for path in WORKFLOWS:
        call = workflow_call(path)
        if not call:
            continue
        declared = set(call.get("secrets") or {})
        assert set(re.findall(r"\bsecrets\.(\w+)", path.read_text())) - PROVIDED <= declared
        required = {
            name for name, spec in (call.get("inputs") or {}).items() if spec.get("required")
        }
        callers = [
            job
            for other in WORKFLOWS
            for job in yaml.safe_load(other.read_text())["jobs"].values()
            if job.get("uses") == f"./.github/workflows/{path.name}"
        ]
        assert callers, f"nothing calls {path.name}"
        for job in callers:
            passed = job.get("secrets")
            assert passed == "inherit" or declared <= set(passed or {}), path.name
            assert required <= set(job.get("with") or {}), path.name


def test_retraining_pull_requests_name_the_setting_they_need() -> None:
    """retrain.yml opens its pull request with the workflow's token when no RETRAIN_PR_TOKEN is
    set, which GitHub allows only with the repository's Actions setting turned on."""
    retrain = (REPO_ROOT / ".github" / "workflows" / "retrain.yml").read_text()
    assert "secrets.RETRAIN_PR_TOKEN || github.token" in retrain
    setting = "Allow GitHub Actions to create and approve pull requests"
    assert setting in setup_table()
    assert setting in section("The first time, in order")


def test_the_first_time_steps_are_numbered_and_in_order() -> None:
    parts = re.split(r"(?m)^(\d+)\. ", section("The first time, in order"))[1:]
    numbers, steps = [int(n) for n in parts[0::2]], parts[1::2]
    assert numbers == list(range(1, len(steps) + 1))
    order = [
        "make bootstrap-state STACK=dev",
        "pulumi login 's3://",
        "pulumi stack init dev --secrets-provider 'awskms://",
        "git add Pulumi.dev.yaml && git commit",
        "pulumi up --stack dev",
        "pulumi stack output ciPlanRoleArn --stack dev",
        "git push",
    ]
    found = []
    for phrase in order:
        at = [index for index, step in enumerate(steps) if phrase in step]
        assert at, f"no first-time step says {phrase!r}"
        found.append(at[0])
    assert found == sorted(found), dict(zip(order, found, strict=True))
