"""The VPC: subnets per zone with the EKS load-balancer tags, NAT and flow logs as configured."""

from __future__ import annotations

from fnmatch import fnmatch

import pytest

from infra.components.flow_logs import FLOW_LOGS_SERVICE, flow_log_group_name
from infra.components.key import StackKey, StackKeyArgs
from infra.components.network import (
    ELB_ROLE_TAG,
    INTERNAL_ELB_ROLE_TAG,
    KARPENTER_DISCOVERY_TAG,
    Network,
    NetworkArgs,
    cluster_tag,
)
from infra.tools.mocks import ACCOUNT_ID
from tests.support.pulumi_unit import KEY, Declared, declare, on, policy, stack_settings

SUBNET = "aws:ec2/subnet:Subnet"
NAT = "aws:ec2/natGateway:NatGateway"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def build(stack: str, nat_mode: str | None = None, flow_logs: bool | None = None) -> Declared:
    settings = stack_settings(stack)
    network = settings.network
    if nat_mode:
        network = network.model_copy(update={"nat_mode": nat_mode})
    if flow_logs is not None:
        switched = network.flow_logs.model_copy(update={"enabled": flow_logs})
        network = network.model_copy(update={"flow_logs": switched})

    def program(provider, account):
        args = NetworkArgs(network, settings.naming, account, KEY)
        net = Network("network", args, opts=on(provider))
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


@pytest.mark.parametrize(
    ("stack", "nat_mode", "node_kind"),
    [("dev", None, "public"), ("dev", "single", "private"), ("prod", None, "private")],
)
def test_karpenter_finds_exactly_the_subnets_nodes_run_in(
    stack: str, nat_mode: str | None, node_kind: str
) -> None:
    declared = build(stack, nat_mode=nat_mode)
    cluster = stack_settings(stack).naming.cluster
    nodes = subnets(declared, node_kind)
    assert sorted(s.id for s in nodes) == sorted(declared.values["nodes"])
    for subnet in nodes:
        assert subnet.inputs["tags"][KARPENTER_DISCOVERY_TAG] == cluster
    other = "private" if node_kind == "public" else "public"
    assert all(KARPENTER_DISCOVERY_TAG not in s.inputs["tags"] for s in subnets(declared, other))


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


def test_prod_records_the_vpc_traffic_to_its_log_group(prod: Declared) -> None:
    settings = stack_settings("prod")
    wanted = settings.network.flow_logs
    assert wanted.enabled
    group = prod.one(LOG_GROUP, "network-flow-logs").inputs
    assert group["name"] == flow_log_group_name(settings.naming)
    assert group["kmsKeyId"] == KEY
    assert group["retentionInDays"] == wanted.retention_days
    flow_log = prod.one(FLOW_LOG, "network-flow-logs").inputs
    arn = f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:{group['name']}"
    assert flow_log["vpcId"] == prod.one("aws:ec2/vpc:Vpc").id
    assert flow_log["trafficType"] == wanted.traffic_type
    assert flow_log["logDestinationType"] == "cloud-watch-logs"
    assert flow_log["logDestination"] == arn
    role = prod.one(ROLE)
    assert role.name == f"{settings.naming.prefix}-vpc-flow-logs"
    assert flow_log["iamRoleArn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/{role.id}"


def test_flow_log_role_trusts_only_this_accounts_flow_logs(prod: Declared) -> None:
    (trust,) = policy(prod.one(ROLE).inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": FLOW_LOGS_SERVICE}
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT_ID}
    assert trust["Condition"]["ArnLike"] == {
        "aws:SourceArn": f"arn:aws:ec2:us-east-1:{ACCOUNT_ID}:vpc-flow-log/*"
    }


def test_flow_log_role_writes_to_its_log_group_only(prod: Declared) -> None:
    group = prod.one(LOG_GROUP, "network-flow-logs").inputs["name"]
    arn = f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:{group}"
    (statement,) = policy(prod.one(ROLE_POLICY, "network-flow-logs").inputs["policy"])["Statement"]
    assert statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == [
        "logs:CreateLogStream",
        "logs:DescribeLogStreams",
        "logs:PutLogEvents",
    ]
    assert statement["Resource"] == [arn, f"{arn}:*"]


def test_stack_key_lets_logs_encrypt_the_flow_log_group() -> None:
    naming = stack_settings("prod").naming
    declared = declare(
        lambda provider, account: {
            "arn": StackKey("stack", StackKeyArgs(naming, account), opts=on(provider)).arn
        },
        stack_settings("prod"),
    )
    key = policy(declared.one("aws:kms/key:Key").inputs["policy"])
    (logs,) = [s for s in key["Statement"] if s["Sid"] == "CloudWatchLogsEncryptsStackLogGroups"]
    arn = f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:{flow_log_group_name(naming)}"
    patterns = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert any(fnmatch(arn, pattern) for pattern in patterns)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_flow_logs_off_declares_none_of_their_resources(stack: str) -> None:
    declared = build(stack, flow_logs=False)
    assert declared.of_type(FLOW_LOG) == [] and declared.of_type(LOG_GROUP) == []
    assert declared.of_type(ROLE) == [] and declared.of_type(ROLE_POLICY) == []


def test_dev_ships_with_flow_logs_off_and_can_turn_them_on() -> None:
    assert stack_settings("dev").network.flow_logs.enabled is False
    declared = build("dev", flow_logs=True)
    assert declared.one(FLOW_LOG).inputs["trafficType"] == "ALL"
    assert declared.one(LOG_GROUP).inputs["retentionInDays"] == 14
