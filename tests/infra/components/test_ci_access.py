"""GitHub Actions' OIDC roles: exact repository and refs in the trust, stack ARNs in the policy,
and the GitHub environments the stack files trust are the ones the workflows use."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from infra.components.ci_access import (
    DEPLOY_GROUP,
    GITHUB_OIDC_HOST,
    GITHUB_OIDC_URL,
    CiAccess,
    CiAccessArgs,
    deploy_subjects,
    infra_subjects,
    plan_subjects,
)
from infra.components.cluster import ADMIN_ACCESS_POLICY
from infra.settings import StackSettings, state_bucket_name, state_key_alias
from infra.tools.mocks import ACCOUNT_ID
from tests.support.pulumi_unit import (
    KEY,
    REPO_ROOT,
    Declared,
    declare,
    on,
    policy,
    stack_cluster,
    stack_settings,
)

DVC = "arn:aws:s3:::dvc-bucket"
ARTIFACTS = "arn:aws:s3:::artifacts-bucket"
ECR = f"arn:aws:ecr:us-east-1:{ACCOUNT_ID}:repository/bentos"
ROLE = "aws:iam/role:Role"
POLICY = "aws:iam/rolePolicy:RolePolicy"


def build(settings: StackSettings) -> Declared:
    def program(provider, account):
        cluster = stack_cluster(settings, provider, account)
        ci = CiAccess(
            "ci",
            CiAccessArgs.for_stack(
                settings,
                settings.environment,
                account=account,
                key_arn=KEY,
                dvc_bucket_arn=DVC,
                artifacts_bucket_arn=ARTIFACTS,
                ecr_repository_arn=ECR,
                cluster=cluster,
            ),
            opts=on(provider),
        )
        return {
            "plan": ci.plan_role_arn,
            "deploy": ci.deploy_role_arn,
            "infra": ci.infra_role_arn,
            "cluster": cluster.arn,
        }

    return declare(program, settings)


@pytest.fixture(scope="module")
def dev() -> Declared:
    return build(stack_settings("dev"))


@pytest.fixture(scope="module")
def prod() -> Declared:
    return build(stack_settings("prod"))


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
    assert infra_subjects(repo, ci) == [f"repo:{repo}:environment:dev-infra"]
    assert infra_subjects(repo, prod) == [f"repo:{repo}:environment:prod-infra"]


@pytest.mark.parametrize("purpose", ["ci-plan", "ci-deploy", "ci-infra"])
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
    assert granted["ReadBudget"]["Resource"] == (
        f"arn:aws:budgets::{ACCOUNT_ID}:budget/{stack_settings('dev').naming.budget}"
    )
    state = f"arn:aws:s3:::{state_bucket_name(stack_settings('dev').identity.project, ACCOUNT_ID)}"
    assert granted["ListState"]["Resource"] == state
    assert granted["ReadState"]["Resource"] == f"{state}/*"
    decrypt = granted["DecryptState"]
    assert decrypt["Resource"] == f"arn:aws:kms:*:{ACCOUNT_ID}:key/*"
    alias = state_key_alias(stack_settings("dev").identity.project)
    assert decrypt["Condition"] == {"ForAnyValue:StringEquals": {"kms:ResourceAliases": alias}}


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_deploy_role_pushes_images_and_writes_data_only_here(dev: Declared) -> None:
    granted = permissions(dev, "ci-deploy")
    assert granted["PushImages"]["Resource"] == ECR
    assert granted["WriteData"] == {
        "Sid": "WriteData",
        "Effect": "Allow",
        "Action": ["s3:PutObject", "s3:PutObjectTagging"],
        "Resource": [f"{DVC}/*", f"{ARTIFACTS}/*"],
    }
    assert granted["UseStackKey"]["Resource"] == KEY
    # The actions AWS offers no resource-level permission for (the zone lookup is region-bound).
    wildcard = {sid for sid, s in granted.items() if s["Resource"] == "*"}
    assert wildcard == {"LogInToRegistry", "LookUpZones"}
    assert granted["LookUpZones"]["Condition"] == {
        "StringEquals": {"aws:RequestedRegion": "us-east-1"}
    }
    # No AWS resource of the stack can be changed by the model deploy.
    actions = {a for s in granted.values() for a in _actions(s)}
    assert not {a for a in actions if a.split(":")[0] in {"iam", "ec2", "eks", "sns"}} - {
        "ec2:DescribeAvailabilityZones",
        "eks:DescribeCluster",
    }


def test_deploy_role_writes_only_its_own_stack_state(dev: Declared) -> None:
    granted = permissions(dev, "ci-deploy")
    project = stack_settings("dev").identity.project
    state = f"arn:aws:s3:::{state_bucket_name(project, ACCOUNT_ID)}"
    assert granted["WriteStackState"]["Action"] == ["s3:PutObject", "s3:DeleteObject"]
    assert granted["WriteStackState"]["Resource"] == [
        f"{state}/.pulumi/stacks/{project}/dev.json*",
        f"{state}/.pulumi/history/{project}/dev/*",
        f"{state}/.pulumi/backups/{project}/dev/*",
        f"{state}/.pulumi/locks/{project}/dev/*",
    ]
    assert granted["EncryptState"]["Condition"] == {
        "ForAnyValue:StringEquals": {"kms:ResourceAliases": state_key_alias(project)}
    }
    assert "WriteStackState" not in permissions(dev, "ci-plan")


def test_deploy_role_enters_the_cluster_only_as_the_deployer_group(dev: Declared) -> None:
    (entry,) = [e for e in dev.of_type("aws:eks/accessEntry:AccessEntry") if e.name == "ci-deploy"]
    assert entry.inputs["principalArn"] == dev.values["deploy"]
    assert entry.inputs["kubernetesGroups"] == [DEPLOY_GROUP]
    associations = dev.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert "ci-deploy" not in {a.name for a in associations}


def test_infra_role_administers_the_cluster(dev: Declared) -> None:
    association = dev.one(
        "aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "ci-infra"
    ).inputs
    assert association["policyArn"].endswith(f"cluster-access-policy/{ADMIN_ACCESS_POLICY}")
    assert association["accessScope"] == {"type": "cluster"}
    assert (
        dev.one("aws:eks/accessEntry:AccessEntry", "ci-infra").inputs["principalArn"]
        == (dev.values["infra"])
    )


def test_infra_role_is_scoped_to_the_stack(dev: Declared, prod: Declared) -> None:
    granted = permissions(dev, "ci-infra")
    prefix = stack_settings("dev").naming.prefix
    assert len({s["Sid"] for s in granted.values()}) == len(granted)
    for sid, statement in granted.items():
        actions = _actions(statement)
        assert "*" not in actions and "*:*" not in actions, sid
        if statement["Resource"] != "*":
            continue
        # Where AWS has no resource-level scope: the region bounds it, or it only reads.
        condition = statement.get("Condition", {}).get("StringEquals", {})
        read_only = all(a.split(":")[1].startswith(("Describe", "List", "Get")) for a in actions)
        assert (
            condition.get("aws:RequestedRegion") == "us-east-1"
            or read_only
            or sid in {"LogInToRegistry"}
        ), sid
    assert granted["ManageStackRoles"]["Resource"] == (f"arn:aws:iam::{ACCOUNT_ID}:role/{prefix}-*")
    # The cluster, its nodes and the VPC's flow-log delivery are handed the stack's roles.
    passed = ["eks.amazonaws.com", "ec2.amazonaws.com", "vpc-flow-logs.amazonaws.com"]
    assert granted["PassStackRoles"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": passed}
    }
    assert "ec2:*FlowLogs" in granted["ManageNetwork"]["Action"]
    attachable = granted["AttachKnownPolicies"]["Condition"]["ArnEquals"]["iam:PolicyARN"]
    assert not [arn for arn in attachable if arn.endswith("AdministratorAccess")]
    assert granted["ManageTaggedKeys"]["Condition"] == {
        "StringEquals": {
            "aws:ResourceTag/project": stack_settings("dev").naming.project,
            "aws:ResourceTag/environment": "dev",
        }
    }
    assert granted["ManageBuckets"]["Resource"] == [f"arn:aws:s3:::{prefix}-*"]
    assert granted["ManageBudget"]["Resource"] == (
        f"arn:aws:budgets::{ACCOUNT_ID}:budget/{stack_settings('dev').naming.budget}"
    )
    # Only the stack that activates the account's cost tags may do so.
    assert "ActivateCostTags" not in granted
    assert "ActivateCostTags" in permissions(prod, "ci-infra")
    # An IAM role's inline policies hold at most 10,240 characters.
    assert len(dev.one(POLICY, "ci-infra").inputs["policy"]) < 10_240


def _workflow(name: str) -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / ".github" / "workflows" / name).read_text())


def test_the_workflows_use_the_environments_the_stacks_trust() -> None:
    """A job's `environment:` is the OIDC subject its role must trust, so they must agree."""
    stacks = ("dev", "prod")
    rollout = _workflow("rollout.yml")["jobs"]["rollout"]
    deploy = _workflow("deploy.yml")["jobs"]
    # rollout.yml runs in the environment named like the stack; deploy.yml calls it per stack.
    assert rollout["environment"] == "${{ inputs.stack }}"
    for stack in stacks:
        assert deploy[stack]["with"]["stack"] == stack
        assert stack in stack_settings(stack).ci.deploy_environments
    # The build job uses the dev deploy role too.
    assert deploy["build"]["environment"] in stack_settings("dev").ci.deploy_environments
    up = _workflow("infra.yml")["jobs"]["up"]
    assert up["environment"] == "${{ matrix.stack }}-infra"
    assert up["strategy"]["matrix"]["stack"] == list(stacks)
    for stack in stacks:
        assert stack_settings(stack).ci.infra_environments == [f"{stack}-infra"]
    role = next(s for s in up["steps"] if "configure-aws-credentials" in s.get("uses", ""))
    assert role["with"]["role-to-assume"] == "${{ vars.AWS_INFRA_ROLE_ARN }}"


def test_pulumi_cloud_backend_needs_no_state_access(shared_account: Declared) -> None:
    assert not {"ListState", "ReadState", "DecryptState"} & set(
        permissions(shared_account, "ci-plan")
    )


def test_stacks_find_ci_access_under_its_former_type_token(dev: Declared) -> None:
    moved = [r for r in dev.registrations if "mlops:ci_access:CiAccess" in r.urn]
    assert len(moved) > 1 and {r.type for r in moved} >= {"mlops:ci_access:CiAccess", ROLE}
    for registration in moved:
        former = registration.urn.replace("mlops:ci_access:CiAccess", "mlops:infra:CiAccess")
        assert former in registration.aliases, registration.urn
