"""The EKS control plane: a private API endpoint (a public one only if the stack asks, for
named networks), API-only access entries, envelope-encrypted secrets, logs with retention,
standard support only; and the kubeconfig that reaches it."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from infra.helpers.providers import kubeconfig
from infra.settings import ClusterSettings, Naming


def control_plane_logs(
    naming: Naming,
    settings: ClusterSettings,
    key_arn: pulumi.Input[str],
    *,
    parent: pulumi.Resource,
) -> aws.cloudwatch.LogGroup:
    """The control plane's log group, encrypted with the stack's key, with retention."""
    return aws.cloudwatch.LogGroup(
        "control-plane",
        name=naming.cluster_log_group,
        retention_in_days=settings.log_retention_days,
        kms_key_id=key_arn,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def control_plane(
    name: str,
    naming: Naming,
    settings: ClusterSettings,
    *,
    role_arn: pulumi.Input[str],
    key_arn: pulumi.Input[str],
    subnet_ids: Sequence[pulumi.Input[str]],
    after: Sequence[pulumi.Resource],
    parent: pulumi.Resource,
) -> aws.eks.Cluster:
    """The EKS cluster itself, created once `after` (its role's grants, its log group) exist."""
    return aws.eks.Cluster(
        name,
        name=naming.cluster,
        version=settings.version,
        role_arn=role_arn,
        vpc_config=aws.eks.ClusterVpcConfigArgs(
            subnet_ids=list(subnet_ids),
            # Always on: nodes and in-VPC runners reach the API without leaving the VPC.
            endpoint_private_access=True,
            endpoint_public_access=settings.endpoint_public_access,
            # Only with a public endpoint: without one AWS ignores them.
            public_access_cidrs=[str(c) for c in settings.public_access_cidrs]
            if settings.endpoint_public_access
            else None,
        ),
        access_config=aws.eks.ClusterAccessConfigArgs(
            authentication_mode="API",
            # Whoever runs `pulumi up` administers the cluster (the Kubernetes provider
            # needs it); more admins come from cluster.adminRoleArns.
            bootstrap_cluster_creator_admin_permissions=True,
        ),
        encryption_config=aws.eks.ClusterEncryptionConfigArgs(
            provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=key_arn),
            resources=["secrets"],
        ),
        enabled_cluster_log_types=list(settings.log_types),
        # STANDARD: past its support window the cluster must be upgraded, rather than
        # silently billed for extended support (six times the hourly control-plane fee).
        upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),
        deletion_protection=settings.deletion_protection,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(after)),
    )


def oidc_issuer(identities: Sequence[aws.eks.outputs.ClusterIdentity]) -> str:
    """The cluster's OIDC issuer URL, which IRSA trusts."""
    for identity in identities:
        for oidc in identity.oidcs or []:
            if oidc.issuer:
                return oidc.issuer
    raise pulumi.RunError("EKS reported no OIDC issuer for the cluster")


def cluster_kubeconfig(cluster: aws.eks.Cluster, region: str) -> pulumi.Output[str]:
    """The kubeconfig (secret) that logs in with `aws eks get-token`: it holds no token."""
    return pulumi.Output.secret(
        kubeconfig(
            cluster.name,
            cluster.endpoint,
            cluster.certificate_authority.apply(lambda ca: ca.data or ""),
            region,
        )
    )
