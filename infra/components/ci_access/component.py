"""The CiAccess component: GitHub's OIDC provider and the plan, deploy and infra roles, with
the deploy and infra roles' ways into the cluster."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components.ci_access.policies import deploy_policy, infra_policy, plan_policy
from infra.components.ci_access.subjects import (
    GITHUB_OIDC_HOST,
    GITHUB_OIDC_URL,
    deploy_subjects,
    infra_subjects,
    plan_subjects,
)
from infra.components.cluster import ADMIN_ACCESS_POLICY, Cluster
from infra.helpers.iam import STS_AUDIENCE, Statement, role_with_policy, web_identity_trust
from infra.helpers.options import renamed
from infra.helpers.providers import AwsAccount
from infra.settings import CiSettings, Naming, StackSettings, StateSettings

# The Kubernetes group of the deploy role; the serving component binds it in the deploy
# namespaces.
DEPLOY_GROUP = "model-deployers"


@dataclass(frozen=True)
class CiAccessArgs:
    settings: CiSettings
    state: StateSettings
    repository: str
    project: str
    # The Pulumi stack: its state objects are the only ones the deploy and infra roles write.
    stack: str
    naming: Naming
    account: AwsAccount
    key_arn: pulumi.Input[str]
    dvc_bucket_arn: pulumi.Input[str]
    artifacts_bucket_arn: pulumi.Input[str]
    ecr_repository_arn: pulumi.Input[str]
    cluster: Cluster
    # budget.activateCostAllocationTags: the infra role may then switch the account's tags on.
    activate_cost_tags: bool

    @classmethod
    def for_stack(
        cls,
        settings: StackSettings,
        stack: str,
        *,
        account: AwsAccount,
        key_arn: pulumi.Input[str],
        dvc_bucket_arn: pulumi.Input[str],
        artifacts_bucket_arn: pulumi.Input[str],
        ecr_repository_arn: pulumi.Input[str],
        cluster: Cluster,
    ) -> CiAccessArgs:
        """The arguments the stack's settings decide, plus the resources the roles reach."""
        return cls(
            settings=settings.ci,
            state=settings.state,
            repository=settings.identity.repository,
            project=settings.identity.project,
            stack=stack,
            naming=settings.naming,
            account=account,
            key_arn=key_arn,
            dvc_bucket_arn=dvc_bucket_arn,
            artifacts_bucket_arn=artifacts_bucket_arn,
            ecr_repository_arn=ecr_repository_arn,
            cluster=cluster,
            activate_cost_tags=settings.budget.activate_cost_allocation_tags,
        )


class CiAccess(pulumi.ComponentResource):
    """The GitHub OIDC provider (or the account's existing one) and the plan/deploy/infra roles."""

    def __init__(
        self, name: str, args: CiAccessArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            "mlops:ci_access:CiAccess", name, None, renamed(opts, "mlops:infra:CiAccess")
        )
        ci, repository = args.settings, args.repository
        provider_arn = self._github_provider(ci)
        self.plan_role = self._role(
            args, "ci-plan", provider_arn, plan_subjects(repository, ci), plan_policy(args)
        )
        self.deploy_role = self._role(
            args, "ci-deploy", provider_arn, deploy_subjects(repository, ci), deploy_policy(args)
        )
        self.infra_role = self._role(
            args, "ci-infra", provider_arn, infra_subjects(repository, ci), infra_policy(args)
        )
        # The deploy role is only a group member: the serving component's RBAC says what it may do.
        args.cluster.grant_groups("ci-deploy", self.deploy_role.arn, [DEPLOY_GROUP])
        # Helm releases, CRDs and namespaces need the whole cluster.
        args.cluster.grant_access(
            "ci-infra", self.infra_role.arn, ADMIN_ACCESS_POLICY, namespaces=None
        )
        self.plan_role_arn: pulumi.Output[str] = self.plan_role.arn
        self.deploy_role_arn: pulumi.Output[str] = self.deploy_role.arn
        self.infra_role_arn: pulumi.Output[str] = self.infra_role.arn
        self.register_outputs(
            {
                "planRoleArn": self.plan_role_arn,
                "deployRoleArn": self.deploy_role_arn,
                "infraRoleArn": self.infra_role_arn,
            }
        )

    def _github_provider(self, ci: CiSettings) -> pulumi.Output[str]:
        """GitHub's OIDC provider: one per account, so a second stack looks it up instead."""
        if ci.github_oidc_provider == "create":
            return aws.iam.OpenIdConnectProvider(
                "github",
                url=GITHUB_OIDC_URL,
                client_id_lists=[STS_AUDIENCE],
                opts=pulumi.ResourceOptions(parent=self),
            ).arn
        return aws.iam.get_open_id_connect_provider_output(
            url=GITHUB_OIDC_URL, opts=pulumi.InvokeOutputOptions(parent=self)
        ).arn

    def _role(
        self,
        args: CiAccessArgs,
        purpose: str,
        provider_arn: pulumi.Input[str],
        subjects: list[str],
        statements: list[Statement],
    ) -> aws.iam.Role:
        role, _ = role_with_policy(
            purpose,
            args.naming.role(purpose),
            web_identity_trust(provider_arn, GITHUB_OIDC_HOST, subjects),
            statements,
            parent=self,
            description=f"GitHub Actions ({purpose}) for {args.repository}",
            max_session_duration=3600,
        )
        return role
