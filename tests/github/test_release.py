"""release.yml: `make promote` / `make rollback` of one stack, dispatched by hand.

Its expressions are evaluated the way GitHub evaluates them (tests/support/github_expressions.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from ml.release.aliases import stack_alias
from tests.github.test_workflows import GITHUB, load, make_calls
from tests.support.github_expressions import evaluate, evaluate_value, truthy

RELEASE = load(GITHUB / "workflows" / "release.yml")
(JOB,) = RELEASE["jobs"].values()


def inputs(**given: str) -> dict[str, Any]:
    """The contexts of a dispatch with these inputs (the others at their defaults)."""
    defaults = {"action": "promote", "stack": "prod", "version": "", "budget-override-reason": ""}
    return {"inputs": {**defaults, **given}, "vars": {}, "secrets": {}}


def test_it_is_dispatched_by_hand_with_an_action_and_a_stack() -> None:
    assert set(RELEASE["on"]) == {"workflow_dispatch"}
    given = RELEASE["on"]["workflow_dispatch"]["inputs"]
    assert given["action"]["options"] == ["promote", "rollback"]
    deploy = load(GITHUB / "workflows" / "deploy.yml")["jobs"]
    stacks = [deploy[name]["with"]["stack"] for name in ("dev", "prod")]
    assert given["stack"]["options"] == stacks
    assert given["action"]["required"] and given["stack"]["required"]
    # Each stack offered has a registry stage to move.
    assert [stack_alias(stack) for stack in stacks] == ["staging", "production"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_job_runs_in_the_stacks_environment_queued_with_its_rollouts(stack: str) -> None:
    assert evaluate_value(JOB["environment"], inputs(stack=stack)) == stack
    # The concurrency group of deploy.yml's rollouts of a stack: the two never interleave.
    (rollout,) = load(GITHUB / "workflows" / "rollout.yml")["jobs"].values()
    assert JOB["concurrency"] == rollout["concurrency"]
    assert JOB["concurrency"] == {"group": "stack-${{ inputs.stack }}", "cancel-in-progress": False}
    assert JOB["permissions"] == {"contents": "read", "id-token": "write"}


@pytest.mark.parametrize("action", ["promote", "rollback"])
def test_the_action_picks_the_make_target(action: str) -> None:
    chosen = [
        make_calls(step["run"])
        for step in JOB["steps"]
        if "run" in step and truthy(evaluate(step.get("if", "'always'"), inputs(action=action)))
    ]
    assert chosen == [["setup"], ["stack-env"], [action]]


@pytest.mark.parametrize(("reason", "force"), [("", ""), ("hotfix approved by on-call", "1")])
def test_the_dispatch_inputs_reach_make_through_the_environment(reason: str, force: str) -> None:
    given = inputs(version="abc123", **{"budget-override-reason": reason})
    env = {name: evaluate_value(value, given) for name, value in JOB["env"].items()}
    assert (env["FORCE"], env["REASON"], env["STACK"]) == (force, reason, "prod")
    (promote,) = [s for s in JOB["steps"] if s.get("run") == "make promote"]
    assert evaluate_value(promote["env"]["VERSION"], given) == "abc123"
