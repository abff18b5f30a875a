"""The system pool: a managed node group with its launch template and its Auto Scaling group's
cost tags. Its size is the stack's to set (nothing else resizes it); GPU capacity comes from
Karpenter's NodePools instead."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components.cluster.scheduling import pool_labels
from infra.helpers.options import dependencies, renamed
from infra.helpers.tags import launch_template_tag_specifications, tag_autoscaling_group
from infra.settings import NodePool


def root_device(ami_type: str) -> str:
    # Bottlerocket boots from a small OS volume (xvda); containers and images live on xvdb.
    return "/dev/xvdb" if ami_type.startswith("BOTTLEROCKET") else "/dev/xvda"


@dataclass(frozen=True)
class NodePoolArgs:
    pool: NodePool
    # The physical cluster name (for names and tags) and its Output (for ordering).
    cluster: str
    cluster_name: pulumi.Input[str]
    version: pulumi.Input[str]
    node_role_arn: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    cost_tags: Mapping[str, str]
    cost_labels: Mapping[str, str]


class ManagedNodePool(pulumi.ComponentResource):
    """A managed node group, its launch template and the tags on its Auto Scaling group.

    The node group waits for `opts.depends_on` (the node role's policies, the network add-ons).
    """

    def __init__(
        self, name: str, args: NodePoolArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        after = dependencies(opts)
        super().__init__(
            "mlops:cluster:NodePool", name, None, renamed(opts, "mlops:infra:NodePool")
        )
        pool = args.pool
        labels = pool_labels(pool, args.cost_labels)
        self.launch_template = launch_template(name, pool, args, parent=self)
        self.node_group = aws.eks.NodeGroup(
            name,
            cluster_name=args.cluster_name,
            version=args.version,
            node_role_arn=args.node_role_arn,
            subnet_ids=list(args.subnet_ids),
            ami_type=pool.ami_type,
            capacity_type=pool.capacity_type,
            instance_types=list(pool.instance_types),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=pool.min_size, max_size=pool.max_size, desired_size=pool.desired_size
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            labels=labels,
            taints=[],
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=self.launch_template.id,
                version=self.launch_template.latest_version.apply(str),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=after),
        )
        # EKS creates the Auto Scaling group, out of reach of the provider's default tags.
        group_name = self.node_group.resources.apply(_autoscaling_group_name)
        self.asg_tags = tag_autoscaling_group(name, group_name, args.cost_tags, parent=self)
        self.register_outputs({"nodeGroup": self.node_group.node_group_name})


def launch_template(
    name: str, pool: NodePool, args: NodePoolArgs, *, parent: pulumi.Resource
) -> aws.ec2.LaunchTemplate:
    """Encrypted gp3 root volume, IMDSv2 only, cost tags on the instances and volumes."""
    return aws.ec2.LaunchTemplate(
        name,
        description=f"Nodes of the {pool.name} pool",
        update_default_version=True,
        block_device_mappings=[
            aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name=root_device(pool.ami_type),
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=pool.disk_size_gib,
                    volume_type="gp3",
                    # The account's aws/ebs key: a customer key would first need a grant
                    # for the Auto Scaling service-linked role, or launches fail.
                    encrypted="true",
                    delete_on_termination="true",
                ),
            )
        ],
        metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
            http_endpoint="enabled",
            http_tokens="required",
            # One hop: pods (which use IRSA) can't reach the node role's credentials.
            http_put_response_hop_limit=1,
        ),
        tag_specifications=launch_template_tag_specifications(
            {**args.cost_tags, "Name": f"{args.cluster}-{pool.name}"}
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def _autoscaling_group_name(resources: Sequence[aws.eks.outputs.NodeGroupResource]) -> str:
    """The Auto Scaling group EKS made for a managed node group (there is exactly one)."""
    for resource in resources:
        for group in resource.autoscaling_groups or []:
            if group.name:
                return group.name
    raise pulumi.RunError("EKS reported no Auto Scaling group for a managed node group")
