"""GitHub Actions' way into AWS: OIDC federation, no stored keys, three narrowly scoped roles.

- `plan`: pull requests (and the configured branches) read the stack: DVC data, artifacts,
  images, stack outputs in the state bucket, the cluster's description and the budget.
- `deploy`: the model deploy (deploy.yml -> rollout.yml), from the configured branches and
  GitHub environments: push images, write DVC data and artifacts, write this stack's state, and
  `pulumi up --target` the ModelServing component. In the cluster it is a member of a group that
  infra/components/serving/__init__.py binds to the objects ModelServing declares, in the deploy namespaces only; it
  can change no AWS resource of the stack.
- `infra`: the whole `pulumi up` (infra.yml), only from jobs bound to the `ci.infraEnvironments`
  GitHub environments (restrict them to the main branch, with reviewers for prod). It manages
  the stack's AWS resources, scoped to their names, tags and region, and is cluster admin.

Trust pins the audience to STS and the subject to the exact repository and refs (never a
wildcard repository); permissions name this stack's ARNs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components.cluster import (
    ADMIN_ACCESS_POLICY,
    CLUSTER_POLICIES,
    EBS_CSI_POLICY,
    NODE_POLICIES,
    Cluster,
)
from infra.helpers.iam import (
    STS_AUDIENCE,
    Statement,
    document,
    managed_policy_arn,
    web_identity_trust,
)
from infra.helpers.providers import AwsAccount
from infra.settings import (
    CiSettings,
    Naming,
    StackSettings,
    StateSettings,
    state_bucket_name,
    state_key_alias,
)
from ml.core.identity import COST_LABEL_KEYS

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"
# The Kubernetes group of the deploy role; infra/components/serving/__init__.py binds it in the deploy namespaces.
DEPLOY_GROUP = "model-deployers"
# Services that may be handed the stack's roles (the cluster's and the nodes').
PASSED_TO = ("eks.amazonaws.com", "ec2.amazonaws.com")
SERVICE_LINKED_ROLES = (
    "eks.amazonaws.com",
    "eks-nodegroup.amazonaws.com",
    "autoscaling.amazonaws.com",
    "spot.amazonaws.com",
)
# The Pulumi S3 backend's layout, per project and stack (`.pulumi/<kind>/<project>/<stack>...`).
STATE_KINDS = ("stacks", "history", "backups", "locks")


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
        super().__init__("mlops:infra:CiAccess", name, None, opts)
        ci = args.settings
        child = pulumi.ResourceOptions(parent=self)
        if ci.github_oidc_provider == "create":
            provider_arn = aws.iam.OpenIdConnectProvider(
                "github", url=GITHUB_OIDC_URL, client_id_lists=[STS_AUDIENCE], opts=child
            ).arn
        else:
            provider_arn = aws.iam.get_open_id_connect_provider_output(
                url=GITHUB_OIDC_URL, opts=pulumi.InvokeOutputOptions(parent=self)
            ).arn

        read = read_statements(args)
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
            args,
            "ci-deploy",
            provider_arn,
            deploy_subjects(args.repository, ci),
            [*read, *write_statements(args), *state_write_statements(args)],
        )
        self.infra_role = self._role(
            args,
            "ci-infra",
            provider_arn,
            infra_subjects(args.repository, ci),
            [*infra_statements(args), *state_write_statements(args)],
        )
        # The deploy role is only a group member: infra/components/serving/__init__.py's RBAC says what it may do.
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


def _objects(arns: Sequence[pulumi.Input[str]]) -> list[pulumi.Output[str]]:
    return [pulumi.Output.concat(arn, "/*") for arn in arns]


def read_statements(args: CiAccessArgs) -> list[Statement]:
    """What every CI role reads, and what running the program needs (its lookups)."""
    account = args.account
    buckets = [args.dvc_bucket_arn, args.artifacts_bucket_arn]
    statements: list[Statement] = [
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
            "Resource": _objects(buckets),
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
            "Sid": "ReadBudget",
            "Effect": "Allow",
            "Action": "budgets:ViewBudget",
            "Resource": account.arn("budgets", f"budget/{args.naming.budget}", regional=False),
        },
        {
            # The program looks up the region's zones; AWS offers no resource-level scope.
            "Sid": "LookUpZones",
            "Effect": "Allow",
            "Action": "ec2:DescribeAvailabilityZones",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": account.region}},
        },
        *state_statements(args),
    ]
    if args.settings.github_oidc_provider == "existing":
        statements.append(
            {
                "Sid": "LookUpGithubProvider",
                "Effect": "Allow",
                "Action": "iam:GetOpenIDConnectProvider",
                "Resource": account.arn("iam", f"oidc-provider/{GITHUB_OIDC_HOST}", regional=False),
            }
        )
    return statements


def write_statements(args: CiAccessArgs) -> list[Statement]:
    """The model deploy's writes: data and artifacts (with their cost tags), images."""
    return [
        {
            "Sid": "WriteData",
            "Effect": "Allow",
            # The registry tags each bento archive with its cost labels (ml/release/publish.py).
            "Action": ["s3:PutObject", "s3:PutObjectTagging"],
            "Resource": _objects([args.dvc_bucket_arn, args.artifacts_bucket_arn]),
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


def _state_bucket_arn(args: CiAccessArgs) -> pulumi.Output[str]:
    account = args.account
    bucket = account.account_id.apply(lambda a: state_bucket_name(args.project, a))
    return pulumi.Output.concat("arn:", account.partition, ":s3:::", bucket)


def _state_key(args: CiAccessArgs, sid: str, actions: list[str]) -> Statement:
    # `make bootstrap-state` made the key behind this alias (state and secrets). Matching on the
    # alias needs no lookup, so it holds whichever region the backend lives in.
    account = args.account
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions,
        "Resource": pulumi.Output.concat(
            "arn:", account.partition, ":kms:*:", account.account_id, ":key/*"
        ),
        "Condition": {
            "ForAnyValue:StringEquals": {"kms:ResourceAliases": state_key_alias(args.project)}
        },
    }


def state_statements(args: CiAccessArgs) -> list[Statement]:
    """Read access to the self-managed state backend, so CI can read stack outputs."""
    if args.state.backend != "s3":
        return []
    bucket_arn = _state_bucket_arn(args)
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
        _state_key(args, "DecryptState", ["kms:Decrypt", "kms:DescribeKey"]),
    ]


def state_write_statements(args: CiAccessArgs) -> list[Statement]:
    """`pulumi up` writes this stack's checkpoint, history, backups and lock, nothing else."""
    if args.state.backend != "s3":
        return []
    bucket_arn = _state_bucket_arn(args)
    project, stack = args.project, args.stack
    paths = [f".pulumi/stacks/{project}/{stack}.json*"] + [
        f".pulumi/{kind}/{project}/{stack}/*" for kind in STATE_KINDS[1:]
    ]
    return [
        {
            "Sid": "WriteStackState",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:DeleteObject"],
            "Resource": [pulumi.Output.concat(bucket_arn, f"/{path}") for path in paths],
        },
        # The bucket encrypts new objects with the state key (SSE-KMS).
        _state_key(args, "EncryptState", ["kms:GenerateDataKey", "kms:Encrypt"]),
    ]


def infra_statements(args: CiAccessArgs) -> list[Statement]:
    """What the whole `pulumi up` of this stack needs: each service's actions scoped to the
    stack's names, its tags and its region; `*` only where AWS has no resource-level scope."""
    account, naming = args.account, args.naming
    region = {"StringEquals": {"aws:RequestedRegion": account.region}}
    project, environment = COST_LABEL_KEYS[:2]
    own_tags = {
        f"aws:ResourceTag/{project}": args.project,
        f"aws:ResourceTag/{environment}": naming.environment,
    }
    new_tags = {
        f"aws:RequestTag/{project}": args.project,
        f"aws:RequestTag/{environment}": naming.environment,
    }
    cluster = naming.cluster

    def arn(service: str, resource: str, *, regional: bool = True) -> pulumi.Output[str]:
        return account.arn(service, resource, regional=regional)

    def iam(resource: str) -> pulumi.Output[str]:
        return arn("iam", resource, regional=False)

    stack_roles = iam(f"role/{naming.prefix}-*")
    statements: list[Statement] = [
        {
            # VPC, subnets, routes, gateways, addresses, security groups, launch templates:
            # EC2 creates them without resource-level scope, so the region bounds them.
            "Sid": "ManageNetwork",
            "Effect": "Allow",
            "Action": [
                "ec2:Describe*",
                "ec2:CreateTags",
                "ec2:DeleteTags",
                "ec2:*Vpc*",
                "ec2:*Subnet*",
                "ec2:*Route*",
                "ec2:*InternetGateway*",
                "ec2:*NatGateway*",
                "ec2:*Address*",
                "ec2:*SecurityGroup*",
                "ec2:*LaunchTemplate*",
            ],
            "Resource": "*",
            "Condition": region,
        },
        {
            "Sid": "ManageCluster",
            "Effect": "Allow",
            "Action": "eks:*",
            "Resource": [
                arn("eks", f"cluster/{cluster}"),
                *(arn("eks", f"{kind}/{cluster}/*") for kind in ("nodegroup", "addon")),
                arn("eks", f"access-entry/{cluster}/*"),
            ],
        },
        {
            "Sid": "LookUpAddons",
            "Effect": "Allow",
            "Action": ["eks:DescribeAddonVersions", "eks:DescribeAddonConfiguration"],
            "Resource": "*",
        },
        {
            "Sid": "ManageStackRoles",
            "Effect": "Allow",
            "Action": [
                "iam:CreateRole",
                "iam:DeleteRole",
                "iam:GetRole",
                "iam:UpdateRole",
                "iam:UpdateAssumeRolePolicy",
                "iam:TagRole",
                "iam:UntagRole",
                "iam:ListRoleTags",
                "iam:PutRolePolicy",
                "iam:GetRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:ListRolePolicies",
                "iam:ListAttachedRolePolicies",
                "iam:ListInstanceProfilesForRole",
                "iam:DetachRolePolicy",
            ],
            "Resource": stack_roles,
        },
        {
            # Only the AWS-managed policies the stack's roles use: never AdministratorAccess.
            "Sid": "AttachKnownPolicies",
            "Effect": "Allow",
            "Action": "iam:AttachRolePolicy",
            "Resource": stack_roles,
            "Condition": {
                "ArnEquals": {
                    "iam:PolicyARN": [
                        managed_policy_arn(account.partition, policy)
                        for policy in (*CLUSTER_POLICIES, *NODE_POLICIES, EBS_CSI_POLICY)
                    ]
                }
            },
        },
        {
            "Sid": "PassStackRoles",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": stack_roles,
            "Condition": {"StringEquals": {"iam:PassedToService": list(PASSED_TO)}},
        },
        {
            "Sid": "ServiceLinkedRoles",
            "Effect": "Allow",
            "Action": "iam:CreateServiceLinkedRole",
            "Resource": iam("role/aws-service-role/*"),
            "Condition": {"StringEquals": {"iam:AWSServiceName": list(SERVICE_LINKED_ROLES)}},
        },
        {
            "Sid": "ManageOidcProviders",
            "Effect": "Allow",
            "Action": "iam:*OpenIDConnectProvider*",
            "Resource": [
                iam(f"oidc-provider/oidc.eks.{account.region}.amazonaws.com/id/*"),
                iam(f"oidc-provider/{GITHUB_OIDC_HOST}"),
            ],
        },
        {
            # A key's id is random: new keys must carry the stack's tags, and only keys
            # carrying them can be used or changed.
            "Sid": "CreateTaggedKeys",
            "Effect": "Allow",
            "Action": ["kms:CreateKey", "kms:TagResource"],
            "Resource": "*",
            "Condition": {"StringEquals": {**new_tags, "aws:RequestedRegion": account.region}},
        },
        {
            "Sid": "ManageTaggedKeys",
            "Effect": "Allow",
            "Action": "kms:*",
            "Resource": arn("kms", "key/*"),
            "Condition": {"StringEquals": own_tags},
        },
        {
            "Sid": "ManageKeyAlias",
            "Effect": "Allow",
            "Action": ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"],
            "Resource": arn("kms", naming.kms_alias),
        },
        {
            "Sid": "ListKeys",
            "Effect": "Allow",
            "Action": ["kms:ListAliases", "kms:ListKeys"],
            "Resource": "*",
        },
        {
            "Sid": "ManageBuckets",
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": [
                pulumi.Output.concat("arn:", account.partition, f":s3:::{naming.prefix}-*")
            ],
        },
        {
            "Sid": "ManageRegistry",
            "Effect": "Allow",
            "Action": "ecr:*",
            "Resource": arn("ecr", f"repository/{naming.ecr_repository}"),
        },
        {
            "Sid": "LogInToRegistry",
            "Effect": "Allow",
            "Action": "ecr:GetAuthorizationToken",
            "Resource": "*",
        },
        {
            "Sid": "ManageLogGroups",
            "Effect": "Allow",
            "Action": "logs:*",
            "Resource": [
                arn("logs", f"log-group:{naming.cluster_log_group}*"),
                arn("logs", f"log-group:{naming.log_group_prefix}*"),
            ],
        },
        {
            "Sid": "ListLogGroups",
            "Effect": "Allow",
            "Action": "logs:DescribeLogGroups",
            "Resource": "*",
        },
        {
            "Sid": "ManageBudget",
            "Effect": "Allow",
            "Action": "budgets:*",
            "Resource": arn("budgets", f"budget/{naming.budget}", regional=False),
        },
        {
            "Sid": "ManageTopics",
            "Effect": "Allow",
            "Action": "sns:*",
            "Resource": arn("sns", f"{naming.prefix}-*"),
        },
        {
            # The node groups' Auto Scaling groups (made by EKS) carry the cost tags too.
            "Sid": "TagNodeGroups",
            "Effect": "Allow",
            "Action": ["autoscaling:CreateOrUpdateTags", "autoscaling:DeleteTags"],
            "Resource": arn("autoscaling", "autoScalingGroup:*:autoScalingGroupName/eks-*"),
            "Condition": {"StringEquals": {"aws:ResourceTag/eks:cluster-name": cluster}},
        },
        {
            "Sid": "DescribeNodeGroups",
            "Effect": "Allow",
            "Action": "autoscaling:Describe*",
            "Resource": "*",
        },
        *read_statements(args),
    ]
    if args.activate_cost_tags:
        statements.append(
            {
                # Cost allocation tags are account-wide settings without an ARN.
                "Sid": "ActivateCostTags",
                "Effect": "Allow",
                "Action": ["ce:UpdateCostAllocationTagsStatus", "ce:ListCostAllocationTags"],
                "Resource": "*",
            }
        )
    return _unique_sids(statements)


def _unique_sids(statements: list[Statement]) -> list[Statement]:
    # The infra role also reads what every role reads; IAM rejects repeated Sids.
    seen: set[str] = set()
    unique = []
    for statement in statements:
        if statement["Sid"] not in seen:
            seen.add(statement["Sid"])
            unique.append(statement)
    return unique
