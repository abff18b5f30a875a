"""The IAM roles of the control plane and of the nodes, with the AWS-managed policies they use."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.helpers.iam import (
    attach_managed_policies,
    role_with_managed_policies,
    role_with_policy,
    service_trust,
)
from infra.helpers.providers import AwsAccount
from infra.settings import Naming

CLUSTER_POLICIES = ("AmazonEKSClusterPolicy",)
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryPullOnly",
    # Shell access through Session Manager instead of SSH keys and open ports.
    "AmazonSSMManagedInstanceCore",
)


def cluster_role(
    naming: Naming, account: AwsAccount, key_arn: pulumi.Input[str], *, parent: pulumi.Resource
) -> tuple[aws.iam.Role, list[pulumi.Resource]]:
    """The control plane's role, and its grants the cluster must wait for."""
    role, key_use = role_with_policy(
        "cluster-secrets-key",
        naming.role("cluster"),
        service_trust("eks.amazonaws.com"),
        [
            # Envelope encryption of Kubernetes secrets with the stack's key.
            {
                "Effect": "Allow",
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"],
                "Resource": key_arn,
            }
        ],
        parent=parent,
    )
    attachments = attach_managed_policies(
        "cluster", role, account.partition, CLUSTER_POLICIES, parent=parent
    )
    return role, [*attachments, key_use]


def node_role(
    naming: Naming, account: AwsAccount, *, parent: pulumi.Resource
) -> tuple[aws.iam.Role, list[aws.iam.RolePolicyAttachment]]:
    """The nodes' role (instance profile of every pool), and its policy attachments."""
    return role_with_managed_policies(
        "node",
        naming.role("node"),
        service_trust("ec2.amazonaws.com"),
        account.partition,
        NODE_POLICIES,
        parent=parent,
    )
