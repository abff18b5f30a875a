"""Who may assume each CI role: GitHub's OIDC issuer and the `sub` claims of the exact
repository, refs and environments (never a wildcard)."""

from __future__ import annotations

from infra.settings import CiSettings

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"


def plan_subjects(repository: str, ci: CiSettings) -> list[str]:
    """GitHub OIDC `sub` claims allowed to assume the plan role."""
    subjects = [f"repo:{repository}:pull_request"] if ci.plan_pull_requests else []
    return subjects + [f"repo:{repository}:ref:refs/heads/{b}" for b in ci.plan_branches]


def deploy_subjects(repository: str, ci: CiSettings) -> list[str]:
    """GitHub OIDC `sub` claims allowed to assume the deploy role.

    A job bound to a GitHub environment presents `environment:<name>` instead of its ref, so
    protected environments (required reviewers) gate deploys on their own.
    """
    return [f"repo:{repository}:ref:refs/heads/{b}" for b in ci.deploy_branches] + [
        f"repo:{repository}:environment:{e}" for e in ci.deploy_environments
    ]


def infra_subjects(repository: str, ci: CiSettings) -> list[str]:
    """Only jobs bound to the infra environments (their branch rules and reviewers apply)."""
    return [f"repo:{repository}:environment:{e}" for e in ci.infra_environments]
