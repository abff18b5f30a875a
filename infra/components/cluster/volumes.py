"""Persistent volumes: the EBS CSI driver add-on (IRSA) and the encrypted, cost-tagged gp3
StorageClass that workloads keeping data (Prometheus) ask for by name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.components.cluster.addons import SYSTEM_NAMESPACE
from infra.helpers.iam import Irsa, role_with_managed_policies
from infra.settings import Naming

EBS_CSI_ADDON = "aws-ebs-csi-driver"
EBS_CSI_SERVICE_ACCOUNT = "ebs-csi-controller-sa"
EBS_CSI_POLICY = "service-role/AmazonEBSCSIDriverPolicy"
GP3_STORAGE_CLASS = "gp3"


def ebs_csi_driver(
    naming: Naming,
    irsa: Irsa,
    cluster_name: pulumi.Input[str],
    partition: pulumi.Input[str],
    after: Sequence[pulumi.Resource],
    *,
    parent: pulumi.Resource,
) -> aws.eks.Addon:
    """The EBS CSI driver add-on, its controller assuming an IRSA role with AWS's policy."""
    role, attached = role_with_managed_policies(
        "ebs-csi",
        naming.role("ebs-csi"),
        irsa.trust(SYSTEM_NAMESPACE, EBS_CSI_SERVICE_ACCOUNT),
        partition,
        (EBS_CSI_POLICY,),
        parent=parent,
    )
    return aws.eks.Addon(
        EBS_CSI_ADDON,
        cluster_name=cluster_name,
        addon_name=EBS_CSI_ADDON,
        service_account_role_arn=role.arn,
        resolve_conflicts_on_create="OVERWRITE",
        resolve_conflicts_on_update="OVERWRITE",
        # Its controller runs on the system nodes.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[*attached, *after]),
    )


def gp3_storage_class(
    cost_tags: Mapping[str, str],
    cost_labels: Mapping[str, str],
    driver: aws.eks.Addon,
    kubernetes: k8s.Provider,
    *,
    parent: pulumi.Resource,
) -> k8s.storage.v1.StorageClass:
    """Encrypted gp3 volumes, bound in the zone where their pod lands."""
    # The driver tags every volume it creates, so their spend is attributed like the rest.
    tags = {f"tagSpecification_{i}": f"{k}={v}" for i, (k, v) in enumerate(cost_tags.items(), 1)}
    return k8s.storage.v1.StorageClass(
        GP3_STORAGE_CLASS,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=GP3_STORAGE_CLASS, labels=dict(cost_labels)),
        provisioner="ebs.csi.aws.com",
        parameters={"type": "gp3", "encrypted": "true", "fsType": "ext4", **tags},
        # Bind where the pod lands: a volume lives in one zone.
        volume_binding_mode="WaitForFirstConsumer",
        reclaim_policy="Delete",
        allow_volume_expansion=True,
        opts=pulumi.ResourceOptions(parent=parent, provider=kubernetes, depends_on=[driver]),
    )
