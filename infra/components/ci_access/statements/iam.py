"""IAM: the stack's roles (by name prefix) and the AWS-managed policies they use, the services
they are passed to, service-linked roles, and the OIDC providers (EKS's and GitHub's)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi

from infra.components.ci_access.subjects import GITHUB_OIDC_HOST
from infra.components.cluster import CLUSTER_POLICIES, EBS_CSI_POLICY, NODE_POLICIES
from infra.helpers.iam import Statement, managed_policy_arn

if TYPE_CHECKING:
    from infra.components.ci_access.component import CiAccessArgs

# Services that may be handed the stack's roles (the cluster's and the nodes').
PASSED_TO = ("eks.amazonaws.com", "ec2.amazonaws.com", "vpc-flow-logs.amazonaws.com")
SERVICE_LINKED_ROLES = (
    "eks.amazonaws.com",
    "eks-nodegroup.amazonaws.com",
    "autoscaling.amazonaws.com",
    "spot.amazonaws.com",
)
ROLE_ACTIONS = (
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
)

INSTANCE_PROFILE_ACTIONS = (
    "iam:CreateInstanceProfile",
    "iam:DeleteInstanceProfile",
    "iam:GetInstanceProfile",
    "iam:AddRoleToInstanceProfile",
    "iam:RemoveRoleFromInstanceProfile",
    "iam:TagInstanceProfile",
    "iam:UntagInstanceProfile",
    "iam:ListInstanceProfileTags",
)


def _arn(args: CiAccessArgs, resource: str) -> pulumi.Output[str]:
    return args.account.arn("iam", resource, regional=False)


def read(args: CiAccessArgs) -> list[Statement]:
    """The lookup of the account's GitHub provider, when the stack did not create it."""
    if args.settings.github_oidc_provider != "existing":
        return []
    return [
        {
            "Sid": "LookUpGithubProvider",
            "Effect": "Allow",
            "Action": "iam:GetOpenIDConnectProvider",
            "Resource": _arn(args, f"oidc-provider/{GITHUB_OIDC_HOST}"),
        }
    ]


def manage(args: CiAccessArgs) -> list[Statement]:
    return [*_stack_roles(args), *_services_and_providers(args)]


def _stack_roles(args: CiAccessArgs) -> list[Statement]:
    stack_roles = _arn(args, f"role/{args.naming.prefix}-*")
    attachable = (*CLUSTER_POLICIES, *NODE_POLICIES, EBS_CSI_POLICY)
    return [
        {
            "Sid": "ManageStackRoles",
            "Effect": "Allow",
            "Action": list(ROLE_ACTIONS),
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
                        managed_policy_arn(args.account.partition, policy) for policy in attachable
                    ]
                }
            },
        },
        {
            # Karpenter's nodes boot with the stack's instance profile (it creates none itself).
            "Sid": "ManageStackInstanceProfiles",
            "Effect": "Allow",
            "Action": list(INSTANCE_PROFILE_ACTIONS),
            "Resource": _arn(args, f"instance-profile/{args.naming.prefix}-*"),
        },
        {
            "Sid": "PassStackRoles",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": stack_roles,
            "Condition": {"StringEquals": {"iam:PassedToService": list(PASSED_TO)}},
        },
    ]


def _services_and_providers(args: CiAccessArgs) -> list[Statement]:
    return [
        {
            "Sid": "ServiceLinkedRoles",
            "Effect": "Allow",
            "Action": "iam:CreateServiceLinkedRole",
            "Resource": _arn(args, "role/aws-service-role/*"),
            "Condition": {"StringEquals": {"iam:AWSServiceName": list(SERVICE_LINKED_ROLES)}},
        },
        {
            "Sid": "ManageOidcProviders",
            "Effect": "Allow",
            "Action": "iam:*OpenIDConnectProvider*",
            "Resource": [
                _arn(args, f"oidc-provider/oidc.eks.{args.account.region}.amazonaws.com/id/*"),
                _arn(args, f"oidc-provider/{GITHUB_OIDC_HOST}"),
            ],
        },
    ]
