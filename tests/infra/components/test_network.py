"""The VPC: subnets per zone with the EKS load-balancer tags, and NAT as configured."""

from __future__ import annotations

import pytest

from infra.components.network import (
    ELB_ROLE_TAG,
    INTERNAL_ELB_ROLE_TAG,
    Network,
    NetworkArgs,
    cluster_tag,
)
from tests.support.pulumi_unit import Declared, declare, on, stack_settings

SUBNET = "aws:ec2/subnet:Subnet"
NAT = "aws:ec2/natGateway:NatGateway"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"


def build(stack: str, nat_mode: str | None = None) -> Declared:
    settings = stack_settings(stack)
    network = settings.network
    if nat_mode:
        network = network.model_copy(update={"nat_mode": nat_mode})

    def program(provider, account):
        net = Network("network", NetworkArgs(network, settings.naming), opts=on(provider))
        return {
            "nodes": net.node_subnet_ids,
            "public": net.public_subnet_ids,
            "private": net.private_subnet_ids,
        }

    return declare(program, settings)


@pytest.fixture(scope="module")
def dev() -> Declared:
    """dev's network with one NAT gateway (the stack file itself runs without NAT)."""
    return build("dev", nat_mode="single")


@pytest.fixture(scope="module")
def prod() -> Declared:
    return build("prod")


def subnets(declared: Declared, kind: str) -> list:
    return sorted(
        (r for r in declared.of_type(SUBNET) if f"-{kind}-" in r.name), key=lambda r: r.name
    )


def test_vpc_has_dns_for_eks(dev: Declared) -> None:
    vpc = dev.one("aws:ec2/vpc:Vpc")
    assert vpc.inputs["cidrBlock"] == "10.20.0.0/16"
    assert vpc.inputs["enableDnsHostnames"] and vpc.inputs["enableDnsSupport"]


def test_default_security_group_is_emptied(dev: Declared) -> None:
    group = dev.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert not group.inputs.get("ingress") and not group.inputs.get("egress")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_one_public_and_one_private_subnet_per_zone(
    stack: str, dev: Declared, prod: Declared
) -> None:
    declared = {"dev": dev, "prod": prod}[stack]
    settings = stack_settings(stack).network
    public, private = subnets(declared, "public"), subnets(declared, "private")
    assert len(public) == len(private) == settings.az_count
    zones = [s.inputs["availabilityZone"] for s in public]
    assert len(set(zones)) == settings.az_count
    assert [s.inputs["availabilityZone"] for s in private] == zones
    assert [s.inputs["cidrBlock"] for s in public] == [str(c) for c in settings.public_subnet_cidrs]
    cluster = cluster_tag(stack_settings(stack).naming.cluster)
    for subnet in public:
        assert subnet.inputs["tags"][ELB_ROLE_TAG] == "1"
        assert subnet.inputs["tags"][cluster] == "shared"
        assert subnet.inputs["mapPublicIpOnLaunch"] is False
    for subnet in private:
        assert subnet.inputs["tags"][INTERNAL_ELB_ROLE_TAG] == "1"
        assert subnet.inputs["tags"][cluster] == "shared"


def private_default_routes(declared: Declared) -> list[str]:
    tables = sorted(
        (t for t in declared.of_type(ROUTE_TABLE) if "private" in t.name), key=lambda t: t.name
    )
    return [
        route.get("natGatewayId", "")
        for table in tables
        for route in table.inputs.get("routes", [])
        if route["cidrBlock"] == "0.0.0.0/0"
    ]


def test_single_nat_serves_every_private_subnet(dev: Declared) -> None:
    assert len(dev.of_type(NAT)) == 1
    routes = private_default_routes(dev)
    assert len(routes) == 2 and len(set(routes)) == 1 and routes[0].startswith("nat-")
    assert dev.values["nodes"] == dev.values["private"]


def test_per_az_nat_keeps_each_zone_on_its_own_gateway(prod: Declared) -> None:
    assert len(prod.of_type(NAT)) == 3
    routes = private_default_routes(prod)
    assert len(routes) == 3 and len(set(routes)) == 3


def test_public_route_goes_through_the_internet_gateway(dev: Declared) -> None:
    public = dev.one(ROUTE_TABLE, "network-public")
    assert public.inputs["routes"] == [
        {"cidrBlock": "0.0.0.0/0", "gatewayId": public.inputs["routes"][0]["gatewayId"]}
    ]
    assert public.inputs["routes"][0]["gatewayId"].startswith("igw-")


def test_without_nat_nodes_use_public_subnets() -> None:
    assert stack_settings("dev").network.nat_mode == "none"
    declared = build("dev")
    assert declared.of_type(NAT) == [] and declared.of_type("aws:ec2/eip:Eip") == []
    assert private_default_routes(declared) == []
    assert declared.values["nodes"] == declared.values["public"]
    assert all(s.inputs["mapPublicIpOnLaunch"] for s in subnets(declared, "public"))
