"""The VPC: public and private subnets per zone, an internet gateway, NAT and flow logs as
configured.

Subnets carry the tags EKS and its load balancer controllers look for, so public load balancers
land in public subnets and internal ones in private subnets; the subnets nodes run in also carry
Karpenter's discovery tag, so the nodes it launches land there too.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components.flow_logs import FlowLogArgs, FlowLogResources, flow_logs
from infra.helpers.options import renamed
from infra.helpers.providers import AwsAccount
from infra.settings import Naming, NetworkSettings

ELB_ROLE_TAG = "kubernetes.io/role/elb"
INTERNAL_ELB_ROLE_TAG = "kubernetes.io/role/internal-elb"
# Karpenter's EC2NodeClasses select subnets and security groups by this tag (value: the cluster).
KARPENTER_DISCOVERY_TAG = "karpenter.sh/discovery"


def cluster_tag(cluster_name: str) -> str:
    return f"kubernetes.io/cluster/{cluster_name}"


def nodes_in_public_subnets(settings: NetworkSettings) -> bool:
    """Without NAT the private subnets have no way out, so nodes use the public ones."""
    return settings.nat_mode == "none"


@dataclass(frozen=True)
class NetworkArgs:
    """The stack's network settings, the names its resources take, and (for the flow logs)
    the account and the stack key."""

    settings: NetworkSettings
    naming: Naming
    account: AwsAccount
    key_arn: pulumi.Input[str]


def _node_subnet_tags(args: NetworkArgs, public: bool) -> dict[str, str]:
    """Karpenter's discovery tag, on the subnets nodes run in only."""
    if public != nodes_in_public_subnets(args.settings):
        return {}
    return {KARPENTER_DISCOVERY_TAG: args.naming.cluster}


class Network(pulumi.ComponentResource):
    """VPC over `azCount` zones; nodes live in private subnets unless `natMode` is `none`."""

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        # Stacks created before the tokens followed the module names keep their network.
        super().__init__("mlops:network:Network", name, None, renamed(opts, "mlops:infra:Network"))
        naming = args.naming
        child = pulumi.ResourceOptions(parent=self)
        self.vpc = aws.ec2.Vpc(
            name,
            cidr_block=str(args.settings.vpc_cidr),
            # EKS needs DNS hostnames and resolution for its private endpoint and nodes.
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": naming.prefix},
            opts=child,
        )
        # The VPC's default security group allows all traffic between its members; strip it.
        aws.ec2.DefaultSecurityGroup(
            name, vpc_id=self.vpc.id, tags={"Name": f"{naming.prefix}-default-closed"}, opts=child
        )
        gateway = aws.ec2.InternetGateway(
            name, vpc_id=self.vpc.id, tags={"Name": naming.prefix}, opts=child
        )
        self.public_subnets, self.nat_gateways = self._public_subnets(name, args, gateway)
        self.private_subnets = [
            self._private_subnet(name, args, index) for index in range(args.settings.az_count)
        ]
        self.flow_logs: FlowLogResources | None = None
        if args.settings.flow_logs.enabled:
            self.flow_logs = flow_logs(
                name,
                FlowLogArgs(
                    settings=args.settings.flow_logs,
                    naming=naming,
                    account=args.account,
                    key_arn=args.key_arn,
                    vpc_id=self.vpc.id,
                ),
                parent=self,
            )

        self.vpc_id: pulumi.Output[str] = self.vpc.id
        self.public_subnet_ids = [s.id for s in self.public_subnets]
        self.private_subnet_ids = [s.id for s in self.private_subnets]
        public_nodes = nodes_in_public_subnets(args.settings)
        self.node_subnet_ids = self.public_subnet_ids if public_nodes else self.private_subnet_ids
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "publicSubnetIds": self.public_subnet_ids,
                "privateSubnetIds": self.private_subnet_ids,
            }
        )

    def _zones(self, count: int) -> list[pulumi.Output[str]]:
        names = aws.get_availability_zones_output(
            state="available",
            # Local and Wavelength zones can't host EKS subnets; keep to the region's own zones.
            filters=[
                aws.GetAvailabilityZonesFilterArgs(
                    name="opt-in-status", values=["opt-in-not-required"]
                )
            ],
            opts=pulumi.InvokeOutputOptions(parent=self),
        ).names
        return [names.apply(lambda n, i=index: _zone(n, i, count)) for index in range(count)]

    def _public_subnets(
        self, name: str, args: NetworkArgs, gateway: aws.ec2.InternetGateway
    ) -> tuple[list[aws.ec2.Subnet], list[aws.ec2.NatGateway]]:
        """One public subnet per zone, routed to the internet, and the NAT gateways in them."""
        settings, naming = args.settings, args.naming
        child = pulumi.ResourceOptions(parent=self)
        public_routes = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=self.vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=gateway.id)],
            tags={"Name": f"{naming.prefix}-public"},
            opts=child,
        )
        subnets: list[aws.ec2.Subnet] = []
        nat_gateways: list[aws.ec2.NatGateway] = []
        for index, zone in enumerate(self._zones(settings.az_count)):
            public = aws.ec2.Subnet(
                f"{name}-public-{index}",
                vpc_id=self.vpc.id,
                cidr_block=str(settings.public_subnet_cidrs[index]),
                availability_zone=zone,
                # Only when nodes run here (natMode none) do instances get public addresses.
                map_public_ip_on_launch=settings.nat_mode == "none",
                tags={
                    "Name": f"{naming.prefix}-public-{index}",
                    ELB_ROLE_TAG: "1",
                    cluster_tag(naming.cluster): "shared",
                    **_node_subnet_tags(args, public=True),
                },
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{index}",
                subnet_id=public.id,
                route_table_id=public_routes.id,
                opts=child,
            )
            subnets.append(public)
            if settings.nat_mode == "per_az" or (settings.nat_mode == "single" and index == 0):
                address = aws.ec2.Eip(
                    f"{name}-nat-{index}",
                    domain="vpc",
                    tags={"Name": f"{naming.prefix}-nat-{index}"},
                    opts=child,
                )
                nat_gateways.append(
                    aws.ec2.NatGateway(
                        f"{name}-{index}",
                        allocation_id=address.id,
                        subnet_id=public.id,
                        tags={"Name": f"{naming.prefix}-{index}"},
                        opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]),
                    )
                )
        return subnets, nat_gateways

    def _private_subnet(self, name: str, args: NetworkArgs, index: int) -> aws.ec2.Subnet:
        """The private subnet in the zone of public subnet `index`, leaving through NAT if any."""
        settings, naming = args.settings, args.naming
        child = pulumi.ResourceOptions(parent=self)
        private = aws.ec2.Subnet(
            f"{name}-private-{index}",
            vpc_id=self.vpc.id,
            cidr_block=str(settings.private_subnet_cidrs[index]),
            availability_zone=self.public_subnets[index].availability_zone,
            tags={
                "Name": f"{naming.prefix}-private-{index}",
                INTERNAL_ELB_ROLE_TAG: "1",
                cluster_tag(naming.cluster): "shared",
                **_node_subnet_tags(args, public=False),
            },
            opts=child,
        )
        routes = []
        if self.nat_gateways:
            # per_az: each zone leaves through its own NAT; single: all through the first.
            nat = self.nat_gateways[index if settings.nat_mode == "per_az" else 0]
            routes.append(
                aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)
            )
        table = aws.ec2.RouteTable(
            f"{name}-private-{index}",
            vpc_id=self.vpc.id,
            routes=routes,
            tags={"Name": f"{naming.prefix}-private-{index}"},
            opts=child,
        )
        aws.ec2.RouteTableAssociation(
            f"{name}-private-{index}",
            subnet_id=private.id,
            route_table_id=table.id,
            opts=child,
        )
        return private


def _zone(names: list[str], index: int, count: int) -> str:
    if len(names) < count:
        raise pulumi.RunError(
            f"network.azCount is {count} but the region offers {len(names)} zones: {names}"
        )
    return names[index]
