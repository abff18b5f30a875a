"""Karpenter's IAM: the controller may launch, tag and end only this cluster's nodes, pass only
their role, read only its queue; the nodes get the managed pool's policies and an access entry."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.components.cluster import NODE_POLICIES
from infra.components.karpenter.interruption import queue_name
from infra.policy.validators import wildcard_statements
from infra.tools.mocks import ACCOUNT_ID
from tests.infra.components.karpenter.stack import ROLE, ROLE_POLICY, stack
from tests.support.pulumi_unit import KEY, REGION, Declared, policy, stack_settings

# The only statements on "*": calls AWS offers no resource-level permissions for.
UNSCOPED = {"DescribeInThisRegion", "ReadPrices", "ListInstanceProfiles"}


def controller_policy(plan: Declared) -> dict[str, dict[str, Any]]:
    document = policy(plan.one(ROLE_POLICY, "karpenter-controller").inputs["policy"])
    return {s["Sid"]: s for s in document["Statement"]}


@pytest.fixture(scope="module")
def prod() -> Declared:
    return stack("prod")


@pytest.fixture(scope="module")
def statements(prod: Declared) -> dict[str, dict[str, Any]]:
    return controller_policy(prod)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_only_the_controllers_service_account_assumes_its_role(prod: Declared) -> None:
    role = prod.one(ROLE, stack_settings("prod").naming.role("karpenter"))
    (trust,) = policy(role.inputs["assumeRolePolicy"])["Statement"]
    host = prod.values["issuer"].removeprefix("https://")
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert trust["Condition"]["StringEquals"] == {
        f"{host}:aud": "sts.amazonaws.com",
        f"{host}:sub": ["system:serviceaccount:kube-system:karpenter"],
    }
    assert prod.values["roleArn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/{role.id}"


def test_nothing_but_describe_calls_and_prices_is_unscoped(statements: dict) -> None:
    document = {"Version": "2012-10-17", "Statement": list(statements.values())}
    assert wildcard_statements(json.dumps(document)) == []
    for sid, statement in statements.items():
        resources = as_list(statement["Resource"])
        assert ("*" in resources) == (sid in UNSCOPED), sid
        if "*" not in resources:
            # Every ARN is this partition's, and this region's or global.
            assert all(r.startswith("arn:aws:") for r in resources), sid
    for sid in UNSCOPED:
        actions = as_list(statements[sid]["Action"])
        assert all(a.split(":")[1].startswith(("Describe", "Get", "List")) for a in actions)
    assert statements["DescribeInThisRegion"]["Condition"] == {
        "StringEquals": {"aws:RequestedRegion": REGION}
    }


def test_it_launches_tags_and_ends_only_this_clusters_nodes(statements: dict) -> None:
    cluster = stack_settings("prod").naming.cluster
    owned = f"kubernetes.io/cluster/{cluster}"
    create = statements["CreateTaggedForThisCluster"]
    assert create["Condition"] == {
        "StringEquals": {
            f"aws:RequestTag/{owned}": "owned",
            "aws:RequestTag/eks:eks-cluster-name": cluster,
        },
        "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
    }
    tag = statements["TagWhileCreating"]["Condition"]["StringEquals"]
    assert tag["ec2:CreateAction"] == ["RunInstances", "CreateFleet", "CreateLaunchTemplate"]
    for sid in ("LaunchFromOwnLaunchTemplates", "TagOwnInstances", "EndOwnInstances"):
        condition = statements[sid]["Condition"]
        assert condition["StringEquals"] == {f"aws:ResourceTag/{owned}": "owned"}, sid
        assert condition["StringLike"] == {"aws:ResourceTag/karpenter.sh/nodepool": "*"}, sid
    # Running instances get only their name and claim tagged on.
    keys = statements["TagOwnInstances"]["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"]
    assert set(keys) == {"eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"}
    # The network it launches into is this account's.
    network = as_list(statements["LaunchFromImagesIntoOwnNetwork"]["Resource"])
    account = f"arn:aws:ec2:{REGION}:{ACCOUNT_ID}:"
    assert {f"{account}subnet/*", f"{account}security-group/*"} <= set(network)
    assert f"arn:aws:ec2:{REGION}::image/*" in network


def test_it_passes_only_the_node_role_and_makes_no_instance_profile(
    prod: Declared, statements: dict
) -> None:
    naming = stack_settings("prod").naming
    node_role = prod.one(ROLE, naming.role("karpenter-node"))
    profile = prod.one("aws:iam/instanceProfile:InstanceProfile")
    passing = statements["PassNodeRoleToEc2"]
    assert passing["Resource"] == f"arn:aws:iam::{ACCOUNT_ID}:role/{node_role.id}"
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
    reading = statements["ReadNodeInstanceProfile"]
    assert reading["Resource"] == f"arn:aws:iam::{ACCOUNT_ID}:instance-profile/{profile.id}"
    actions = {a for s in statements.values() for a in as_list(s["Action"])}
    iam = {a for a in actions if a.startswith("iam:")}
    assert iam == {"iam:PassRole", "iam:GetInstanceProfile", "iam:ListInstanceProfiles"}


def test_it_reads_this_cluster_the_public_ami_parameters_and_its_queue(
    prod: Declared, statements: dict
) -> None:
    assert statements["DescribeThisCluster"]["Resource"] == prod.values["clusterArn"]
    assert statements["ResolveAmiAliases"]["Resource"] == [
        f"arn:aws:ssm:{REGION}::parameter/aws/service/eks/optimized-ami/*",
        f"arn:aws:ssm:{REGION}::parameter/aws/service/bottlerocket/*",
    ]
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{queue_name(stack_settings('prod').naming)}"
    consume = statements["ConsumeInterruptionQueue"]
    assert consume["Resource"] == queue
    assert set(consume["Action"]) == {"sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"}
    decrypt = statements["DecryptInterruptionMessages"]
    assert (decrypt["Action"], decrypt["Resource"]) == ("kms:Decrypt", KEY)
    assert decrypt["Condition"]["StringEquals"] == {
        "kms:ViaService": f"sqs.{REGION}.amazonaws.com",
        "kms:EncryptionContext:aws:sqs:arn": queue,
    }


def test_nodes_get_the_managed_pools_policies_a_profile_and_an_access_entry(
    prod: Declared,
) -> None:
    naming = stack_settings("prod").naming
    role = prod.one(ROLE, naming.role("karpenter-node"))
    (trust,) = policy(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "ec2.amazonaws.com"}
    attached = {
        r.inputs["policyArn"].removeprefix("arn:aws:iam::aws:policy/")
        for r in prod.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if r.name.startswith("karpenter-node-")
    }
    assert attached == set(NODE_POLICIES)
    profile = prod.one("aws:iam/instanceProfile:InstanceProfile")
    assert profile.inputs["role"] == role.id
    entry = prod.one("aws:eks/accessEntry:AccessEntry", "karpenter-node").inputs
    assert entry == {
        "clusterName": naming.cluster,
        "principalArn": f"arn:aws:iam::{ACCOUNT_ID}:role/{role.id}",
        "type": "EC2_LINUX",
    }
