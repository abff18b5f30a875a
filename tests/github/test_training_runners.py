"""Which runner the jobs that train pick: the cluster's scale set when the repository variable
TRAINING_RUNNER names it, GitHub's `ubuntu-latest` otherwise (a fork without a cluster), and for
pull requests only when the repository opts in and the pull request is its own.

Each `runs-on` is evaluated the way GitHub evaluates it (tests/support/github_expressions.py), so
a changed expression is tested as written, or fails here as one the evaluator does not know.
"""

from __future__ import annotations

from typing import Any

import pytest

from infra.tools.runner_image import DOCKERFILE, python_series
from ml.core.paths import REPO_ROOT
from tests.github.test_workflows import GITHUB, jobs, load, make_calls
from tests.support.github_expressions import evaluate, evaluate_value

HOSTED = "ubuntu-latest"
SCALE_SET = "mlops-gpu-training"
REPOSITORY = "acme/model"
# (workflow, job) of the jobs that run the pipeline, on the scale set when TRAINING_RUNNER is set.
TRAINING_JOBS = [("deploy.yml", "build"), ("retrain.yml", "retrain")]
PULL_REQUEST_JOB = ("pr.yml", "report")
# Make targets that reproduce the pipeline, that is train the model.
TRAINING_TARGETS = {"ci-repro", "retrain", "repro"}


def job(workflow: str, name: str) -> dict[str, Any]:
    return load(GITHUB / "workflows" / workflow)["jobs"][name]


def contexts(variables: dict[str, str], head: str = REPOSITORY) -> dict[str, Any]:
    """What `runs-on` may read: repository variables and the event (a pull request from `head`)."""
    event = {"pull_request": {"head": {"repo": {"full_name": head}}}}
    return {"vars": variables, "github": {"repository": REPOSITORY, "event": event}}


def runner(workflow: str, name: str, variables: dict[str, str], head: str = REPOSITORY) -> Any:
    return evaluate_value(job(workflow, name)["runs-on"], contexts(variables, head))


def setup_python(spec: dict[str, Any]) -> dict[str, Any]:
    (step,) = [s for s in spec["steps"] if s.get("uses", "").startswith("actions/setup-python@")]
    return step


@pytest.mark.parametrize(("workflow", "name"), TRAINING_JOBS)
@pytest.mark.parametrize("variables", [{}, {"TRAINING_RUNNER": ""}])
def test_training_falls_back_to_ubuntu_latest_without_the_variable(
    workflow: str, name: str, variables: dict[str, str]
) -> None:
    assert runner(workflow, name, variables) == HOSTED


@pytest.mark.parametrize(("workflow", "name"), TRAINING_JOBS)
def test_training_runs_on_the_scale_set_the_variable_names(workflow: str, name: str) -> None:
    assert runner(workflow, name, {"TRAINING_RUNNER": SCALE_SET}) == SCALE_SET


@pytest.mark.parametrize(
    "variables",
    [
        {},
        {"TRAINING_RUNNER": SCALE_SET},
        {"TRAINING_RUNNER": SCALE_SET, "TRAINING_RUNNER_ON_PULL_REQUESTS": "false"},
        {"TRAINING_RUNNER": SCALE_SET, "TRAINING_RUNNER_ON_PULL_REQUESTS": ""},
        {"TRAINING_RUNNER": "", "TRAINING_RUNNER_ON_PULL_REQUESTS": "true"},
        {"TRAINING_RUNNER_ON_PULL_REQUESTS": "true"},
    ],
)
def test_pull_requests_stay_on_hosted_runners_unless_the_repository_opts_in(
    variables: dict[str, str],
) -> None:
    assert runner(*PULL_REQUEST_JOB, variables) == HOSTED


def test_the_repositorys_own_pull_requests_may_train_on_the_scale_set() -> None:
    both = {"TRAINING_RUNNER": SCALE_SET, "TRAINING_RUNNER_ON_PULL_REQUESTS": "true"}
    assert runner(*PULL_REQUEST_JOB, both) == SCALE_SET
    # A fork's pull request runs the fork's code: never on the self-hosted runners.
    assert runner(*PULL_REQUEST_JOB, both, head="someone/fork") == HOSTED


def test_the_jobs_that_train_are_the_ones_that_may_use_the_scale_set() -> None:
    training = {
        (workflow, name)
        for workflow, name, spec in jobs()
        for step in spec.get("steps", [])
        if set(make_calls(step.get("run", ""))) & TRAINING_TARGETS
    }
    assert training == {*TRAINING_JOBS, PULL_REQUEST_JOB}
    for workflow, name, spec in jobs():
        if (workflow, name) in training:
            assert "vars.TRAINING_RUNNER" in spec["runs-on"], f"{workflow}:{name}"
        elif "runs-on" in spec:
            assert spec["runs-on"] == HOSTED, f"{workflow}:{name} stays on GitHub's runners"


@pytest.mark.parametrize(("workflow", "name"), [*TRAINING_JOBS, PULL_REQUEST_JOB])
def test_the_runner_image_replaces_setup_python_on_the_scale_set(workflow: str, name: str) -> None:
    spec = job(workflow, name)
    step = setup_python(spec)
    on = {where: {"runner": {"environment": where}} for where in ("github-hosted", "self-hosted")}
    assert evaluate(step["if"], on["github-hosted"]) is True
    assert evaluate(step["if"], on["self-hosted"]) is False
    # Both install the same Python series, and `make setup` runs on either.
    dockerfile = (REPO_ROOT / DOCKERFILE).read_bytes()
    assert str(step["with"]["python-version"]) == python_series(dockerfile)
    setup = [s for s in spec["steps"] if make_calls(s.get("run", "")) == ["setup"]]
    assert len(setup) == 1
    assert "if" not in setup[0]


def test_jobs_on_hosted_runners_only_always_set_up_python() -> None:
    for workflow, name, spec in jobs():
        if "vars.TRAINING_RUNNER" in str(spec.get("runs-on", "")):
            continue
        for step in spec.get("steps", []):
            if step.get("uses", "").startswith("actions/setup-python@"):
                assert "if" not in step, f"{workflow}:{name}"
