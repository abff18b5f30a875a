"""The `ci` section: which GitHub Actions runs may assume the plan, deploy and infra roles."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from infra.settings.fields import Branch, GithubEnvironment, Namespace, Section, describe, unique


class CiSettings(Section):
    """Which GitHub Actions runs of the identity's repository may assume this stack's roles."""

    github_oidc_provider: Literal["create", "existing"] = describe(
        "GitHub's OIDC provider exists once per AWS account: create it, or reuse the existing one."
    )
    plan_pull_requests: bool = describe(
        "Pull requests (from the repository itself, never forks) may assume the read-only "
        "plan role."
    )
    plan_branches: list[Branch] = describe("Branches whose runs may assume the plan role.")
    deploy_branches: list[Branch] = describe(
        "Branches whose runs may assume the model deploy role."
    )
    deploy_environments: list[GithubEnvironment] = describe(
        "GitHub environments whose jobs may assume the model deploy role (deploy.yml's "
        "`environment:`)."
    )
    deploy_namespaces: Annotated[list[Namespace], Field(min_length=1)] = describe(
        "Kubernetes namespaces the deploy role may change (serving.namespace is one)."
    )
    infra_environments: Annotated[list[GithubEnvironment], Field(min_length=1)] = describe(
        "GitHub environments whose jobs may assume the infra role that runs the whole "
        "`pulumi up` (infra.yml's `environment:`); restrict them to the main branch."
    )

    @field_validator(
        "plan_branches",
        "deploy_branches",
        "deploy_environments",
        "deploy_namespaces",
        "infra_environments",
    )
    @classmethod
    def _no_duplicates(cls, values: list[str]) -> list[str]:
        return unique(values)

    @field_validator("infra_environments")
    @classmethod
    def _infra_apart(cls, values: list[str], info: ValidationInfo) -> list[str]:
        # A model deploy job must never be able to take the broader infra role.
        shared = sorted(set(values) & set(info.data.get("deploy_environments") or []))
        if shared:
            raise ValueError(f"{', '.join(shared)} also in deployEnvironments")
        return values

    @model_validator(mode="after")
    def _someone_can_assume(self) -> CiSettings:
        if not (self.deploy_branches or self.deploy_environments):
            raise ValueError("deployBranches or deployEnvironments must name at least one ref")
        if not (self.plan_pull_requests or self.plan_branches):
            raise ValueError("planPullRequests or planBranches must allow at least one ref")
        return self
