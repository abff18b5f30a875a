"""GitHub Actions' way into AWS: OIDC federation, no stored keys, two narrowly scoped roles.

- `plan`: pull requests (and the configured branches) read the stack: DVC data, artifacts,
  images, stack outputs in the state bucket, the cluster's description and budgets.
- `deploy`: only the configured branches and protected GitHub environments: push images,
  write DVC data and artifacts, and edit the serving namespaces in the cluster.

Trust pins the audience to STS and the subject to the exact repository and refs (never a
wildcard repository); permissions name this stack's ARNs.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.cluster import Cluster
from infra.config import CiSettings, Naming, StateSettings, state_bucket_name, state_key_alias
from infra.iam import STS_AUDIENCE, Statement, document, web_identity_trust
from infra.providers import AwsAccount

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"
# Kubernetes rights of the deploy role, only inside `ci.deployNamespaces`.
DEPLOY_ACCESS_POLICY = "AmazonEKSEditPolicy"


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


@dataclass(frozen=True)
class CiAccessArgs:
    settings: CiSettings
    state: StateSettings
    repository: str
    project: str
    naming: Naming
    account: AwsAccount
    key_arn: pulumi.Input[str]
    dvc_bucket_arn: pulumi.Input[str]
    artifacts_bucket_arn: pulumi.Input[str]
    ecr_repository_arn: pulumi.Input[str]
    cluster: Cluster


class CiAccess(pulumi.ComponentResource):
    """The GitHub OIDC provider (or the account's existing one) and the plan/deploy roles."""

    def __init__(
        self, name: str, args: CiAccessArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:infra:CiAccess", name, None, opts)
        ci, account, naming = args.settings, args.account, args.naming
        child = pulumi.ResourceOptions(parent=self)
        if ci.github_oidc_provider == "create":
            provider_arn = aws.iam.OpenIdConnectProvider(
                "github", url=GITHUB_OIDC_URL, client_id_lists=[STS_AUDIENCE], opts=child
            ).arn
        else:
            provider_arn = aws.iam.get_open_id_connect_provider_output(
                url=GITHUB_OIDC_URL, opts=pulumi.InvokeOutputOptions(parent=self)
            ).arn

        buckets = [args.dvc_bucket_arn, args.artifacts_bucket_arn]
        objects = [pulumi.Output.concat(arn, "/*") for arn in buckets]
        budgets = account.arn("budgets", f"budget/{naming.budget_prefix}*", regional=False)
        read: list[Statement] = [
            {
                "Sid": "ListData",
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                "Resource": buckets,
            },
            {
                "Sid": "ReadData",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": objects,
            },
            {
                "Sid": "ReadImages",
                "Effect": "Allow",
                "Action": [
                    "ecr:DescribeImages",
                    "ecr:DescribeRepositories",
                    "ecr:ListImages",
                    "ecr:DescribeImageScanFindings",
                ],
                "Resource": args.ecr_repository_arn,
            },
            {
                "Sid": "DescribeCluster",
                "Effect": "Allow",
                "Action": "eks:DescribeCluster",
                "Resource": args.cluster.arn,
            },
            {
                "Sid": "ReadBudgets",
                "Effect": "Allow",
                "Action": "budgets:ViewBudget",
                "Resource": budgets,
            },
            *state_read_statements(args),
        ]
        write: list[Statement] = [
            {
                "Sid": "WriteData",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": objects,
            },
            {
                "Sid": "UseStackKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                "Resource": args.key_arn,
            },
            {
                # GetAuthorizationToken has no resource-level permissions: AWS requires "*".
                "Sid": "LogInToRegistry",
                "Effect": "Allow",
                "Action": "ecr:GetAuthorizationToken",
                "Resource": "*",
            },
            {
                "Sid": "PushImages",
                "Effect": "Allow",
                "Action": [
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:CompleteLayerUpload",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:InitiateLayerUpload",
                    "ecr:PutImage",
                    "ecr:UploadLayerPart",
                ],
                "Resource": args.ecr_repository_arn,
            },
        ]
        decrypt: Statement = {
            "Sid": "DecryptStackData",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": args.key_arn,
        }
        self.plan_role = self._role(
            args, "ci-plan", provider_arn, plan_subjects(args.repository, ci), [*read, decrypt]
        )
        self.deploy_role = self._role(
            args, "ci-deploy", provider_arn, deploy_subjects(args.repository, ci), [*read, *write]
        )
        args.cluster.grant_access(
            "ci-deploy",
            self.deploy_role.arn,
            DEPLOY_ACCESS_POLICY,
            namespaces=ci.deploy_namespaces,
        )
        self.plan_role_arn: pulumi.Output[str] = self.plan_role.arn
        self.deploy_role_arn: pulumi.Output[str] = self.deploy_role.arn
        self.register_outputs(
            {"planRoleArn": self.plan_role_arn, "deployRoleArn": self.deploy_role_arn}
        )

    def _role(
        self,
        args: CiAccessArgs,
        purpose: str,
        provider_arn: pulumi.Input[str],
        subjects: list[str],
        statements: list[Statement],
    ) -> aws.iam.Role:
        role = aws.iam.Role(
            args.naming.role(purpose),
            description=f"GitHub Actions ({purpose}) for {args.repository}",
            assume_role_policy=web_identity_trust(provider_arn, GITHUB_OIDC_HOST, subjects),
            max_session_duration=3600,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.RolePolicy(
            purpose,
            role=role.name,
            policy=document(*statements),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return role


def state_read_statements(args: CiAccessArgs) -> list[Statement]:
    """Read access to the self-managed state backend, so CI can read stack outputs."""
    if args.state.backend != "s3":
        return []
    account = args.account
    bucket = account.account_id.apply(lambda a: state_bucket_name(args.project, a))
    bucket_arn = pulumi.Output.concat("arn:", account.partition, ":s3:::", bucket)
    # `make bootstrap-state` made the key behind this alias (state and secrets). Matching on the
    # alias needs no lookup, so it holds whichever region the backend lives in.
    account_keys = pulumi.Output.concat(
        "arn:", account.partition, ":kms:*:", account.account_id, ":key/*"
    )
    return [
        {
            "Sid": "ListState",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
            "Resource": bucket_arn,
        },
        {
            "Sid": "ReadState",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": pulumi.Output.concat(bucket_arn, "/*"),
        },
        {
            "Sid": "DecryptState",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": account_keys,
            "Condition": {
                "ForAnyValue:StringEquals": {"kms:ResourceAliases": state_key_alias(args.project)}
            },
        },
    ]
