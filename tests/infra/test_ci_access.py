"""GitHub Actions' OIDC roles: exact repository and refs in the trust, stack ARNs in the policy."""

from __future__ import annotations

import pytest

from infra.ci_access import (
    DEPLOY_ACCESS_POLICY,
    GITHUB_OIDC_HOST,
    GITHUB_OIDC_URL,
    CiAccess,
    CiAccessArgs,
    deploy_subjects,
    plan_subjects,
)
from infra.cluster import Cluster, ClusterArgs
from infra.config import StackSettings, state_bucket_name, state_key_alias
from infra.mocks import ACCOUNT_ID
from infra.tags import cost_labels, cost_tags
from tests.infra.unit import Declared, declare, on, policy, stack_settings

KEY = f"arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/stack"
DVC = "arn:aws:s3:::dvc-bucket"
ARTIFACTS = "arn:aws:s3:::artifacts-bucket"
ECR = f"arn:aws:ecr:us-east-1:{ACCOUNT_ID}:repository/bentos"
ROLE = "aws:iam/role:Role"
POLICY = "aws:iam/rolePolicy:RolePolicy"


def build(settings: StackSettings) -> Declared:
    def program(provider, account):
        cluster = Cluster(
            "cluster",
            ClusterArgs(
                settings.cluster,
                settings.naming,
                account,
                KEY,
                ["subnet-a", "subnet-b"],
                ["subnet-a", "subnet-b"],
                cost_tags(settings),
                cost_labels(settings),
            ),
            opts=on(provider),
        )
        ci = CiAccess(
            "ci",
            CiAccessArgs(
                settings=settings.ci,
                state=settings.state,
                repository=settings.identity.repository,
                project=settings.identity.project,
                naming=settings.naming,
                account=account,
                key_arn=KEY,
                dvc_bucket_arn=DVC,
                artifacts_bucket_arn=ARTIFACTS,
                ecr_repository_arn=ECR,
                cluster=cluster,
            ),
            opts=on(provider),
        )
        return {"plan": ci.plan_role_arn, "deploy": ci.deploy_role_arn, "cluster": cluster.arn}

    return declare(program, settings)


@pytest.fixture(scope="module")
def dev() -> Declared:
    return build(stack_settings("dev"))


@pytest.fixture(scope="module")
def shared_account() -> Declared:
    """prod in an account that already has GitHub's provider, with Pulumi Cloud for state."""
    settings = stack_settings("prod")
    ci = settings.ci.model_copy(update={"github_oidc_provider": "existing"})
    state = settings.state.model_copy(update={"backend": "cloud"})
    return build(settings.model_copy(update={"ci": ci, "state": state}))


def trust(declared: Declared, purpose: str) -> dict:
    (role,) = [r for r in declared.of_type(ROLE) if r.name.endswith(f"-{purpose}")]
    (statement,) = policy(role.inputs["assumeRolePolicy"])["Statement"]
    return statement


def permissions(declared: Declared, purpose: str) -> dict[str, dict]:
    document = policy(declared.one(POLICY, purpose).inputs["policy"])
    return {s["Sid"]: s for s in document["Statement"]}


def test_subjects_name_the_exact_repository_and_refs() -> None:
    ci = stack_settings("dev").ci
    repo = stack_settings("dev").identity.repository
    assert plan_subjects(repo, ci) == [
        f"repo:{repo}:pull_request",
        f"repo:{repo}:ref:refs/heads/main",
    ]
    assert deploy_subjects(repo, ci) == [
        f"repo:{repo}:ref:refs/heads/main",
        f"repo:{repo}:environment:dev",
    ]
    prod = stack_settings("prod").ci
    assert deploy_subjects(repo, prod) == [f"repo:{repo}:environment:prod"]


@pytest.mark.parametrize("purpose", ["ci-plan", "ci-deploy"])
def test_trust_pins_audience_and_subject(dev: Declared, purpose: str) -> None:
    statement = trust(dev, purpose)
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"].endswith(f"oidc-provider/{GITHUB_OIDC_HOST}")
    condition = statement["Condition"]
    assert list(condition) == ["StringEquals"]  # exact matches only, no StringLike
    assert condition["StringEquals"][f"{GITHUB_OIDC_HOST}:aud"] == "sts.amazonaws.com"
    subjects = condition["StringEquals"][f"{GITHUB_OIDC_HOST}:sub"]
    repo = stack_settings("dev").identity.repository
    assert subjects and all(s.startswith(f"repo:{repo}:") and "*" not in s for s in subjects)


def test_github_provider_is_created_once_per_account(
    dev: Declared, shared_account: Declared
) -> None:
    provider = dev.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "github").inputs
    assert provider == {"url": GITHUB_OIDC_URL, "clientIdLists": ["sts.amazonaws.com"]}
    created = [
        r.name
        for r in shared_account.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    ]
    assert created == ["irsa"]  # the account's existing GitHub provider is looked up instead
    assert trust(shared_account, "ci-deploy")["Principal"]["Federated"].endswith(GITHUB_OIDC_HOST)


def test_plan_role_only_reads(dev: Declared) -> None:
    granted = permissions(dev, "ci-plan")
    actions = [
        a
        for s in granted.values()
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    assert not [
        a for a in actions if a.startswith(("s3:Put", "s3:Delete", "ecr:Put", "kms:Encrypt"))
    ]
    assert granted["ReadData"]["Resource"] == [f"{DVC}/*", f"{ARTIFACTS}/*"]
    assert granted["DescribeCluster"]["Resource"] == dev.values["cluster"]
    assert granted["ReadBudgets"]["Resource"] == (
        f"arn:aws:budgets::{ACCOUNT_ID}:budget/{stack_settings('dev').naming.budget_prefix}*"
    )
    state = f"arn:aws:s3:::{state_bucket_name(stack_settings('dev').identity.project, ACCOUNT_ID)}"
    assert granted["ListState"]["Resource"] == state
    assert granted["ReadState"]["Resource"] == f"{state}/*"
    decrypt = granted["DecryptState"]
    assert decrypt["Resource"] == f"arn:aws:kms:*:{ACCOUNT_ID}:key/*"
    alias = state_key_alias(stack_settings("dev").identity.project)
    assert decrypt["Condition"] == {"ForAnyValue:StringEquals": {"kms:ResourceAliases": alias}}


def test_deploy_role_pushes_images_and_writes_data_only_here(dev: Declared) -> None:
    granted = permissions(dev, "ci-deploy")
    assert granted["PushImages"]["Resource"] == ECR
    assert granted["WriteData"] == {
        "Sid": "WriteData",
        "Effect": "Allow",
        "Action": "s3:PutObject",
        "Resource": [f"{DVC}/*", f"{ARTIFACTS}/*"],
    }
    assert granted["UseStackKey"]["Resource"] == KEY
    # The one action AWS offers no resource-level permission for.
    wildcard = [s for s in granted.values() if s["Resource"] == "*"]
    assert wildcard == [granted["LogInToRegistry"]]
    assert granted["LogInToRegistry"]["Action"] == "ecr:GetAuthorizationToken"


def test_deploy_role_edits_only_the_serving_namespaces(dev: Declared) -> None:
    entry = dev.one("aws:eks/accessEntry:AccessEntry", "ci-deploy").inputs
    assert entry["principalArn"] == dev.values["deploy"]
    association = dev.one(
        "aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "ci-deploy"
    ).inputs
    assert association["policyArn"].endswith(f"cluster-access-policy/{DEPLOY_ACCESS_POLICY}")
    assert association["accessScope"] == {
        "type": "namespace",
        "namespaces": list(stack_settings("dev").ci.deploy_namespaces),
    }


def test_pulumi_cloud_backend_needs_no_state_access(shared_account: Declared) -> None:
    assert not {"ListState", "ReadState", "DecryptState"} & set(
        permissions(shared_account, "ci-plan")
    )
