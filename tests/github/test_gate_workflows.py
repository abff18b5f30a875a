"""Where the champion/challenger gate runs: each rollout before it publishes, and every pull
request against prod's registry, the verdict reaching the report rather than stopping the job."""

from __future__ import annotations

from typing import Any

from tests.github.test_workflows import GITHUB, SAME_REPO, load, make_calls

WORKFLOWS = GITHUB / "workflows"


def targets(job: dict[str, Any]) -> list[str]:
    return [t for step in job["steps"] for t in make_calls(step.get("run", ""))]


def step_running(job: dict[str, Any], target: str) -> dict[str, Any]:
    (step,) = [s for s in job["steps"] if target in make_calls(s.get("run", ""))]
    return step


def test_a_rollout_gates_the_candidate_before_it_publishes_or_ships() -> None:
    job = load(WORKFLOWS / "rollout.yml")["jobs"]["rollout"]
    order = targets(job)
    assert order.index("gate") < order.index("publish") < order.index("up")
    # Against the model the stack being rolled out serves, in that stack's registry.
    assert order.index("stack-env") < order.index("gate")
    assert step_running(job, "gate")["env"] == {"GATE_STACK": "${{ inputs.stack }}"}
    assert "continue-on-error" not in step_running(job, "gate")


def test_the_gate_gets_the_candidate_and_its_held_out_rows_from_the_build() -> None:
    deploy = load(WORKFLOWS / "deploy.yml")["jobs"]
    uploads = {
        s["with"]["name"]: s["with"]["path"]
        for s in deploy["build"]["steps"]
        if s.get("uses", "").startswith("actions/upload-artifact@")
    }
    assert uploads["model"] == "models/model.joblib"
    assert uploads["reference"].split() == ["data/prepared/train.csv", "data/prepared/test.csv"]
    for stack in ("dev", "prod"):
        assert deploy[stack]["with"]["model-artifact"] == "model"
    rollout = load(WORKFLOWS / "rollout.yml")
    downloads = {
        s["with"]["name"]: s["with"]["path"]
        for s in rollout["jobs"]["rollout"]["steps"]
        if s.get("uses", "").startswith("actions/download-artifact@")
    }
    assert downloads["${{ inputs.model-artifact }}"] == "models"
    assert downloads["${{ inputs.reference-artifact }}"] == "data/prepared"
    assert rollout["on"]["workflow_call"]["inputs"]["model-artifact"]["required"] is True


def test_a_pull_request_gates_against_prods_registry_and_reports_the_verdict() -> None:
    job = load(WORKFLOWS / "pr.yml")["jobs"]["report"]
    steps = job["steps"]
    order = targets(job)
    assert order.index("ci-repro") < order.index("gate") < order.index("pr-report")
    gate_step = step_running(job, "gate")
    # The report fails the job on `fail` or `error` once it has written the comment.
    assert gate_step["continue-on-error"] is True
    registry = step_running(job, "stack-env")
    assert registry["run"] == "make stack-env STACK=prod"
    roles = [
        s["with"]["role-to-assume"]
        for s in steps[: steps.index(gate_step)]
        if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")
    ]
    # The last credentials before the gate are prod's read-only plan role, never a deploy role.
    assert roles[-1] == "${{ vars.AWS_PLAN_ROLE_ARN_PROD }}"
    for step in (registry, *(s for s in steps if "AWS_PLAN_ROLE_ARN_PROD" in str(s))):
        assert SAME_REPO in step["if"]
    after = [
        s["with"]["role-to-assume"]
        for s in steps[steps.index(gate_step) :]
        if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")
    ]
    # The preview goes back to dev's plan role.
    assert after == ["${{ vars.AWS_PLAN_ROLE_ARN }}"]
