"""Who may enter the cluster: EKS access entries for IAM principals (no aws-auth ConfigMap)."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

ADMIN_ACCESS_POLICY = "AmazonEKSClusterAdminPolicy"


def access_policy_arn(partition: pulumi.Input[str], name: str) -> pulumi.Output[str]:
    """The ARN of an EKS access policy (`AmazonEKSClusterAdminPolicy`)."""
    return pulumi.Output.concat("arn:", partition, ":eks::aws:cluster-access-policy/", name)


def group_access(
    name: str,
    cluster_name: pulumi.Input[str],
    principal_arn: pulumi.Input[str],
    groups: Sequence[str],
    *,
    parent: pulumi.Resource,
) -> aws.eks.AccessEntry:
    """An IAM principal let in as a member of Kubernetes groups (RBAC says what they may do)."""
    return aws.eks.AccessEntry(
        name,
        cluster_name=cluster_name,
        principal_arn=principal_arn,
        type="STANDARD",
        kubernetes_groups=list(groups),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def policy_access(
    name: str,
    cluster_name: pulumi.Input[str],
    partition: pulumi.Input[str],
    principal_arn: pulumi.Input[str],
    policy: str,
    *,
    namespaces: Sequence[str] | None,
    parent: pulumi.Resource,
) -> aws.eks.AccessPolicyAssociation:
    """An IAM principal let in with an EKS access policy, cluster-wide or in `namespaces`."""
    entry = aws.eks.AccessEntry(
        name,
        cluster_name=cluster_name,
        principal_arn=principal_arn,
        type="STANDARD",
        opts=pulumi.ResourceOptions(parent=parent),
    )
    scope = (
        aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster")
        if namespaces is None
        else aws.eks.AccessPolicyAssociationAccessScopeArgs(
            type="namespace", namespaces=list(namespaces)
        )
    )
    return aws.eks.AccessPolicyAssociation(
        name,
        cluster_name=cluster_name,
        principal_arn=entry.principal_arn,
        policy_arn=access_policy_arn(partition, policy),
        access_scope=scope,
        opts=pulumi.ResourceOptions(parent=parent),
    )
