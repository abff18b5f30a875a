"""Pricing rules for compute: the EKS control plane, managed node groups and EC2 instances."""

from __future__ import annotations

from infra.settings import is_gpu_pool
from infra.tools.cost.context import Context, ebs_month, instance_price
from infra.tools.cost.money import Cost, Item
from infra.tools.cost.plan_input import Resource

NODE_GROUP_TYPE = "aws:eks/nodeGroup:NodeGroup"
SUBNET_TYPE = "aws:ec2/subnet:Subnet"
# EKS managed node groups default to a 20 GiB root volume.
EKS_DEFAULT_DISK_GIB = 20
EC2_DEFAULT_ROOT_GIB = 8


def _launch_template_disk(ctx: Context, group: Resource) -> tuple[float, str] | None:
    """(GiB, type) of the root volume from the node group's launch template, if it has one."""
    reference = group.inputs.get("launchTemplate")
    if not isinstance(reference, dict):
        return None
    templates = [r for r in ctx.plan.resources if r.type == "aws:ec2/launchTemplate:LaunchTemplate"]
    wanted = {str(reference.get("id", "")), str(reference.get("name", ""))} - {""}
    # By id or name when the plan knows them; else the template declared next to the group.
    match = [t for t in templates if {t.name, str(t.inputs.get("name", ""))} & wanted] or [
        t for t in templates if t.parent == group.parent and t.name == group.name
    ]
    if not match:
        return None
    for mapping in match[0].inputs.get("blockDeviceMappings") or []:
        ebs = mapping.get("ebs") or {}
        if "volumeSize" in ebs:
            return float(ebs["volumeSize"]), str(ebs.get("volumeType") or "gp3")
    return None


def node_group_subnets(ctx: Context, group: Resource | None = None) -> set[str]:
    """The ids of the subnets a node group (or, without one, any node group) starts nodes in."""
    groups = [group] if group else [r for r in ctx.plan.resources if r.type == NODE_GROUP_TYPE]
    return {str(i) for g in groups for i in g.inputs.get("subnetIds") or []}


def any_public(ctx: Context, subnet_ids: set[str]) -> bool:
    """Whether any of the subnets gives the instances it starts a public IPv4 address."""
    return any(
        r.inputs.get("mapPublicIpOnLaunch") is True
        for r in ctx.plan.resources
        if r.type == SUBNET_TYPE and r.id in subnet_ids
    )


def price_node_group(ctx: Context, resource: Resource) -> list[Item]:
    inputs = resource.inputs
    scaling = inputs.get("scalingConfig") or {}
    low, high = int(scaling.get("minSize", 0)), int(scaling.get("maxSize", 0))
    desired = int(scaling.get("desiredSize", low))
    # Only GPU pools burst to their maximum; the max scenario keeps the others as typical.
    high = high if is_gpu_pool(inputs) else desired
    instance_type = str((inputs.get("instanceTypes") or ["t3.medium"])[0])
    spot = inputs.get("capacityType") == "SPOT"
    hourly = instance_price(ctx, resource, instance_type, spot)
    gib, volume_type = _launch_template_disk(ctx, resource) or (
        float(inputs.get("diskSize") or EKS_DEFAULT_DISK_GIB),
        "gp3",
    )

    def per_node(monthly: float) -> Cost:
        return Cost(low * monthly, desired * monthly, high * monthly)

    items = [
        Item(
            f"{instance_type} {'Spot' if spot else 'on-demand'} nodes (the first type listed), "
            f"idle/typical/max {low}/{desired}/{high}",
            per_node(hourly * ctx.hours),
        ),
        Item(
            f"{gib:g} GiB {volume_type} root volume per node",
            per_node(ebs_month(ctx, resource, volume_type, gib)),
        ),
    ]
    if any_public(ctx, node_group_subnets(ctx, resource)):
        ipv4 = ctx.prices_for(resource).public_ipv4_hourly * ctx.hours
        items.append(Item("public IPv4 address per node", per_node(ipv4)))
    return items


def price_instance(ctx: Context, resource: Resource) -> list[Item]:
    instance_type = str(resource.inputs.get("instanceType", ""))
    hourly = instance_price(ctx, resource, instance_type, spot=False)
    root = resource.inputs.get("rootBlockDevice") or {}
    gib = float(root.get("volumeSize") or EC2_DEFAULT_ROOT_GIB)
    volume_type = str(root.get("volumeType") or "gp3")
    return [
        Item(f"{instance_type} on-demand instance", Cost.flat(hourly * ctx.hours)),
        Item(
            f"{gib:g} GiB {volume_type} root volume",
            Cost.flat(ebs_month(ctx, resource, volume_type, gib)),
        ),
    ]


def price_cluster(ctx: Context, resource: Resource) -> list[Item]:
    hourly = ctx.prices_for(resource).eks_cluster_hourly
    return [Item("EKS control plane", Cost.flat(hourly * ctx.hours))]
