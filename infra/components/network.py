"""The VPC: public and private subnets per zone, an internet gateway and NAT as configured.

Subnets carry the tags EKS and its load balancer controllers look for, so public load balancers
land in public subnets and internal ones in private subnets.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.settings import Naming, NetworkSettings

ELB_ROLE_TAG = "kubernetes.io/role/elb"
INTERNAL_ELB_ROLE_TAG = "kubernetes.io/role/internal-elb"


def cluster_tag(cluster_name: str) -> str:
    return f"kubernetes.io/cluster/{cluster_name}"


@dataclass(frozen=True)
class NetworkArgs:
    settings: NetworkSettings
    naming: Naming


class Network(pulumi.ComponentResource):
    """VPC over `azCount` zones; nodes live in private subnets unless `natMode` is `none`."""

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:infra:Network", name, None, opts)
        settings, naming = args.settings, args.naming
        child = pulumi.ResourceOptions(parent=self)
        zones = aws.get_availability_zones_output(
            state="available",
            # Local and Wavelength zones can't host EKS subnets; keep to the region's own zones.
            filters=[
                aws.GetAvailabilityZonesFilterArgs(
                    name="opt-in-status", values=["opt-in-not-required"]
                )
            ],
            opts=pulumi.InvokeOutputOptions(parent=self),
        ).names

        self.vpc = aws.ec2.Vpc(
            name,
            cidr_block=str(settings.vpc_cidr),
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
        public_routes = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=self.vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=gateway.id)],
            tags={"Name": f"{naming.prefix}-public"},
            opts=child,
        )
        cluster = {cluster_tag(naming.cluster): "shared"}
        nodes_public = settings.nat_mode == "none"
        self.public_subnets: list[aws.ec2.Subnet] = []
        self.private_subnets: list[aws.ec2.Subnet] = []
        nat_gateways: list[aws.ec2.NatGateway] = []
        for index in range(settings.az_count):
            zone = zones.apply(lambda names, i=index: _zone(names, i, settings.az_count))
            public = aws.ec2.Subnet(
                f"{name}-public-{index}",
                vpc_id=self.vpc.id,
                cidr_block=str(settings.public_subnet_cidrs[index]),
                availability_zone=zone,
                # Only when nodes run here (natMode none) do instances get public addresses.
                map_public_ip_on_launch=nodes_public,
                tags={"Name": f"{naming.prefix}-public-{index}", ELB_ROLE_TAG: "1", **cluster},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{index}",
                subnet_id=public.id,
                route_table_id=public_routes.id,
                opts=child,
            )
            self.public_subnets.append(public)
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

        for index in range(settings.az_count):
            private = aws.ec2.Subnet(
                f"{name}-private-{index}",
                vpc_id=self.vpc.id,
                cidr_block=str(settings.private_subnet_cidrs[index]),
                availability_zone=self.public_subnets[index].availability_zone,
                tags={
                    "Name": f"{naming.prefix}-private-{index}",
                    INTERNAL_ELB_ROLE_TAG: "1",
                    **cluster,
                },
                opts=child,
            )
            routes = []
            if nat_gateways:
                # per_az: each zone leaves through its own NAT; single: all through the first.
                nat = nat_gateways[index] if settings.nat_mode == "per_az" else nat_gateways[0]
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
            self.private_subnets.append(private)

        self.nat_gateways = nat_gateways
        self.vpc_id: pulumi.Output[str] = self.vpc.id
        self.public_subnet_ids = [s.id for s in self.public_subnets]
        self.private_subnet_ids = [s.id for s in self.private_subnets]
        # Without NAT the private subnets have no way out, so nodes use the public ones.
        self.node_subnet_ids = self.public_subnet_ids if nodes_public else self.private_subnet_ids
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "publicSubnetIds": self.public_subnet_ids,
                "privateSubnetIds": self.private_subnet_ids,
            }
        )


def _zone(names: list[str], index: int, count: int) -> str:
    if len(names) < count:
        raise pulumi.RunError(
            f"network.azCount is {count} but the region offers {len(names)} zones: {names}"
        )
    return names[index]
