"""The managed EKS add-ons that EKS keeps patched, and the namespace cluster add-ons run in."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

SYSTEM_NAMESPACE = "kube-system"
# Versions default to the cluster version's recommended one.
EARLY_ADDONS = ("vpc-cni", "kube-proxy")
# CoreDNS only turns healthy once nodes run it, so it waits for the system pool.
LATE_ADDONS = ("coredns",)


def managed_addon(
    addon: str,
    cluster_name: pulumi.Input[str],
    after: Sequence[pulumi.Resource],
    *,
    parent: pulumi.Resource,
) -> aws.eks.Addon:
    """Take over the copy of `addon` EKS installed at cluster creation."""
    return aws.eks.Addon(
        addon,
        cluster_name=cluster_name,
        addon_name=addon,
        resolve_conflicts_on_create="OVERWRITE",
        resolve_conflicts_on_update="OVERWRITE",
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(after)),
    )
