"""Karpenter's IAM: the controller's IRSA role, allowed to launch and end only this cluster's
nodes, and the identity of those nodes (a role, its instance profile, an EKS access entry).

The statements follow Karpenter's reference policy for 1.14 (its getting-started CloudFormation
template), narrowed to this account and stack: the node role is the only one it may pass, the
instance profile is pre-made (the EC2NodeClasses name it), so the controller manages none.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components.cluster import NODE_POLICIES
from infra.helpers.iam import Statement, role_with_managed_policies, service_trust
from infra.helpers.providers import AwsAccount
from infra.settings import Naming

# The tags Karpenter puts on what it launches; the statements require them.
NODE_POOL_TAG = "karpenter.sh/nodepool"
NODE_CLAIM_TAG = "karpenter.sh/nodeclaim"
EKS_CLUSTER_NAME_TAG = "eks:eks-cluster-name"
# What the controller launches and tags: fleets, instances and what comes with them.
LAUNCHED = (
    "fleet",
    "instance",
    "volume",
    "network-interface",
    "launch-template",
    "spot-instances-request",
)
# Public AMI parameters Karpenter resolves its aliases (al2023@..., bottlerocket@...) through.
AMI_PARAMETERS = ("aws/service/eks/optimized-ami/*", "aws/service/bottlerocket/*")


@dataclass(frozen=True)
class NodeIdentity:
    """Who the nodes Karpenter launches are: their role, its profile, their way into the cluster."""

    role: aws.iam.Role
    instance_profile: aws.iam.InstanceProfile
    access_entry: aws.eks.AccessEntry


def node_identity(
    naming: Naming,
    account: AwsAccount,
    cluster_name: pulumi.Input[str],
    *,
    parent: pulumi.Resource,
) -> NodeIdentity:
    """The nodes' role (the managed pool's policies), its instance profile and access entry."""
    logical = naming.role("karpenter-node")
    role, attached = role_with_managed_policies(
        "karpenter-node",
        logical,
        service_trust("ec2.amazonaws.com"),
        account.partition,
        NODE_POLICIES,
        parent=parent,
    )
    profile = aws.iam.InstanceProfile(
        logical,
        name=logical,
        role=role.name,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=attached),
    )
    # EC2_LINUX puts the nodes in system:nodes; Bottlerocket nodes join with that type too.
    entry = aws.eks.AccessEntry(
        "karpenter-node",
        cluster_name=cluster_name,
        principal_arn=role.arn,
        type="EC2_LINUX",
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return NodeIdentity(role, profile, entry)


@dataclass(frozen=True)
class ControllerScope:
    """What the controller's statements name: this cluster, its nodes' identity, its queue."""

    account: AwsAccount
    cluster: str
    node_role_arn: pulumi.Input[str]
    instance_profile_arn: pulumi.Input[str]
    queue_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]


def controller_statements(scope: ControllerScope) -> list[Statement]:
    return [
        *launch_statements(scope),
        *identity_statements(scope),
        *discovery_statements(scope),
        *interruption_statements(scope),
    ]


def _ec2(account: AwsAccount, kinds: tuple[str, ...]) -> list[pulumi.Output[str]]:
    return [account.arn("ec2", f"{kind}/*") for kind in kinds]


def _public_ec2(account: AwsAccount, kind: str) -> pulumi.Output[str]:
    """AMIs and snapshots other accounts (AWS) own: no account in the ARN."""
    return pulumi.Output.concat("arn:", account.partition, f":ec2:{account.region}::{kind}/*")


def launch_statements(scope: ControllerScope) -> list[Statement]:
    """Launch, tag and end only what carries this cluster's and a NodePool's tags."""
    owned = f"kubernetes.io/cluster/{scope.cluster}"
    requests_tags = {
        "StringEquals": {
            f"aws:RequestTag/{owned}": "owned",
            f"aws:RequestTag/{EKS_CLUSTER_NAME_TAG}": scope.cluster,
        },
        "StringLike": {f"aws:RequestTag/{NODE_POOL_TAG}": "*"},
    }
    carries_tags = {
        "StringEquals": {f"aws:ResourceTag/{owned}": "owned"},
        "StringLike": {f"aws:ResourceTag/{NODE_POOL_TAG}": "*"},
    }
    launch = ["ec2:RunInstances", "ec2:CreateFleet"]
    account = scope.account
    return [
        {
            # The AMIs, and this account's subnets and security groups, a launch refers to.
            "Sid": "LaunchFromImagesIntoOwnNetwork",
            "Effect": "Allow",
            "Action": launch,
            "Resource": [
                _public_ec2(account, "image"),
                _public_ec2(account, "snapshot"),
                *_ec2(account, ("security-group", "subnet")),
            ],
        },
        {
            "Sid": "LaunchFromOwnLaunchTemplates",
            "Effect": "Allow",
            "Action": launch,
            "Resource": account.arn("ec2", "launch-template/*"),
            "Condition": carries_tags,
        },
        {
            "Sid": "CreateTaggedForThisCluster",
            "Effect": "Allow",
            "Action": [*launch, "ec2:CreateLaunchTemplate"],
            "Resource": _ec2(account, LAUNCHED),
            "Condition": requests_tags,
        },
        {
            # Tags only while creating, and only with the cluster's tags.
            "Sid": "TagWhileCreating",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": _ec2(account, LAUNCHED),
            "Condition": {
                **requests_tags,
                "StringEquals": {
                    **requests_tags["StringEquals"],
                    "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"],
                },
            },
        },
        {
            # Once running, only the node's name and claim may be tagged on.
            "Sid": "TagOwnInstances",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": account.arn("ec2", "instance/*"),
            "Condition": {
                **carries_tags,
                "StringEqualsIfExists": {f"aws:RequestTag/{EKS_CLUSTER_NAME_TAG}": scope.cluster},
                "ForAllValues:StringEquals": {
                    "aws:TagKeys": [EKS_CLUSTER_NAME_TAG, NODE_CLAIM_TAG, "Name"]
                },
            },
        },
        {
            "Sid": "EndOwnInstances",
            "Effect": "Allow",
            "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
            "Resource": _ec2(account, ("instance", "launch-template")),
            "Condition": carries_tags,
        },
    ]


def identity_statements(scope: ControllerScope) -> list[Statement]:
    """Hand the nodes' role to EC2, read its profile; create and change no profile."""
    return [
        {
            "Sid": "PassNodeRoleToEc2",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": scope.node_role_arn,
            "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
        },
        {
            "Sid": "ReadNodeInstanceProfile",
            "Effect": "Allow",
            "Action": "iam:GetInstanceProfile",
            "Resource": scope.instance_profile_arn,
        },
        {
            # Its garbage collector lists the profiles it would have made (there are none).
            "Sid": "ListInstanceProfiles",
            "Effect": "Allow",
            "Action": "iam:ListInstanceProfiles",
            "Resource": "*",
        },
    ]


def discovery_statements(scope: ControllerScope) -> list[Statement]:
    """What it reads to choose: instance types, prices, AMIs, subnets, this cluster."""
    account = scope.account
    return [
        {
            # Describe calls support no resource-level permissions: AWS requires "*".
            "Sid": "DescribeInThisRegion",
            "Effect": "Allow",
            "Action": [
                "ec2:DescribeCapacityReservations",
                "ec2:DescribeImages",
                "ec2:DescribeInstances",
                "ec2:DescribeInstanceStatus",
                "ec2:DescribeInstanceTypeOfferings",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplates",
                "ec2:DescribePlacementGroups",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSpotPriceHistory",
                "ec2:DescribeSubnets",
            ],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": account.region}},
        },
        {
            "Sid": "ResolveAmiAliases",
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": [
                pulumi.Output.concat(
                    "arn:", account.partition, f":ssm:{account.region}::parameter/{path}"
                )
                for path in AMI_PARAMETERS
            ],
        },
        {
            # The Price List API has no resources to scope to.
            "Sid": "ReadPrices",
            "Effect": "Allow",
            "Action": "pricing:GetProducts",
            "Resource": "*",
        },
        {
            "Sid": "DescribeThisCluster",
            "Effect": "Allow",
            "Action": "eks:DescribeCluster",
            "Resource": account.arn("eks", f"cluster/{scope.cluster}"),
        },
    ]


def interruption_statements(scope: ControllerScope) -> list[Statement]:
    """Read the interruption queue, whose messages the stack's key encrypts."""
    return [
        {
            "Sid": "ConsumeInterruptionQueue",
            "Effect": "Allow",
            "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
            "Resource": scope.queue_arn,
        },
        {
            "Sid": "DecryptInterruptionMessages",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": scope.key_arn,
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": f"sqs.{scope.account.region}.amazonaws.com",
                    "kms:EncryptionContext:aws:sqs:arn": scope.queue_arn,
                }
            },
        },
    ]
