"""EC2NodeClasses: what a GPU node boots, one per AMI family of cluster.karpenter.nodeClasses.

Each pins its AMI by alias (Karpenter picks the NVIDIA variant for GPU instances), boots from
encrypted gp3 volumes, answers instance metadata over IMDSv2 only and one hop (pods, which use
IRSA, never reach the node role's credentials), finds its subnets and security groups by the
discovery tag, and tags every instance, volume and network interface with the cost tags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.components.network import KARPENTER_DISCOVERY_TAG
from infra.settings import KarpenterSettings
from infra.settings.node_pools import AmiFamily, NodeClass

NODE_CLASS_GROUP = "karpenter.k8s.aws"
NODE_CLASS_API = f"{NODE_CLASS_GROUP}/v1"
NODE_CLASS_KIND = "EC2NodeClass"
# Bottlerocket boots from a small OS volume; images and containers live on the data volume.
BOTTLEROCKET_OS_VOLUME_GIB = 4
# Karpenter sets these tags itself and refuses them in spec.tags (the CRD's validations).
RESERVED_TAG_KEYS = (
    "eks:eks-cluster-name",
    "karpenter.sh/nodepool",
    "karpenter.sh/nodeclaim",
    "karpenter.k8s.aws/ec2nodeclass",
)
RESERVED_TAG_PREFIX = "kubernetes.io/cluster"


def node_class_name(family: AmiFamily) -> str:
    return f"gpu-{family.lower()}"


def _volume(device: str, size_gib: int) -> dict[str, Any]:
    # The account's aws/ebs key, as for the system pool: a customer key would need grants
    # for the EC2 service first, or launches fail.
    return {
        "deviceName": device,
        "ebs": {
            "volumeSize": f"{size_gib}Gi",
            "volumeType": "gp3",
            "encrypted": True,
            "deleteOnTermination": True,
        },
    }


def block_devices(family: AmiFamily, disk_size_gib: int) -> list[dict[str, Any]]:
    """AL2023: one root volume of the configured size; Bottlerocket: OS volume + data volume."""
    if family == "Bottlerocket":
        return [
            _volume("/dev/xvda", BOTTLEROCKET_OS_VOLUME_GIB),
            _volume("/dev/xvdb", disk_size_gib),
        ]
    return [_volume("/dev/xvda", disk_size_gib)]


def instance_tags(cost_tags: Mapping[str, str]) -> dict[str, str]:
    """The cost tags Karpenter puts on instances, volumes and network interfaces (the provider's
    default tags never reach what Karpenter launches)."""
    reserved = [k for k in cost_tags if k in RESERVED_TAG_KEYS or k.startswith(RESERVED_TAG_PREFIX)]
    if reserved:
        raise ValueError(f"{', '.join(reserved)}: tag keys Karpenter reserves for itself")
    return dict(cost_tags)


def node_class_spec(
    family: AmiFamily,
    node_class: NodeClass,
    *,
    cluster: str,
    instance_profile: pulumi.Input[str],
    cost_tags: Mapping[str, str],
) -> dict[str, Any]:
    discovery = {"tags": {KARPENTER_DISCOVERY_TAG: cluster}}
    return {
        "amiSelectorTerms": [{"alias": node_class.ami_alias}],
        # A profile made by the stack: the controller needs no right to create one.
        "instanceProfile": instance_profile,
        "subnetSelectorTerms": [discovery],
        "securityGroupSelectorTerms": [discovery],
        "blockDeviceMappings": block_devices(family, node_class.disk_size_gib),
        "metadataOptions": {
            "httpEndpoint": "enabled",
            "httpProtocolIPv6": "disabled",
            "httpTokens": "required",
            "httpPutResponseHopLimit": 1,
        },
        "tags": instance_tags(cost_tags),
    }


def declare_node_classes(
    settings: KarpenterSettings,
    *,
    cluster: str,
    instance_profile: pulumi.Input[str],
    cost_tags: Mapping[str, str],
    cost_labels: Mapping[str, str],
    kubernetes: k8s.Provider,
    after: Sequence[pulumi.Resource],
    parent: pulumi.Resource,
) -> dict[AmiFamily, k8s.apiextensions.CustomResource]:
    """One EC2NodeClass per family, once its CRD and the controller (its finalizer) exist."""
    return {
        family: k8s.apiextensions.CustomResource(
            node_class_name(family),
            api_version=NODE_CLASS_API,
            kind=NODE_CLASS_KIND,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=node_class_name(family), labels=dict(cost_labels)
            ),
            spec=node_class_spec(
                family,
                node_class,
                cluster=cluster,
                instance_profile=instance_profile,
                cost_tags=cost_tags,
            ),
            opts=pulumi.ResourceOptions(parent=parent, provider=kubernetes, depends_on=list(after)),
        )
        for family, node_class in settings.node_classes.items()
    }
