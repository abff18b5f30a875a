"""EC2NodeClasses: valid against the upstream CRD, pinned AMIs, encrypted gp3, IMDSv2 only,
subnets and security groups found by the tag the network and the cluster carry, cost tags on
everything launched."""

from __future__ import annotations

import copy

import jsonschema
import pytest

from infra.components.karpenter import NODE_CLASS_API, NODE_CLASS_KIND, node_class_name
from infra.components.karpenter.node_classes import instance_tags
from infra.components.network import KARPENTER_DISCOVERY_TAG, Network, NetworkArgs
from infra.helpers.tags import cost_labels, cost_tags
from infra.settings import StackSettings
from tests.infra.components.karpenter.schemas import as_object, crd_validator, reserved_tags
from tests.infra.components.karpenter.stack import NODE_CLASS, bottlerocket, stack
from tests.support.pulumi_unit import KEY, Declared, declare, on, stack_settings

CASES = ["dev", "prod"]


def node_classes(declared: Declared) -> dict[str, dict]:
    return {r.inputs["metadata"]["name"]: r.inputs for r in declared.of_type(NODE_CLASS)}


def test_node_class_names_follow_the_ami_family() -> None:
    assert node_class_name("AL2023") == "gpu-al2023"
    assert node_class_name("Bottlerocket") == "gpu-bottlerocket"


@pytest.mark.parametrize("name", CASES)
def test_node_classes_match_the_upstream_crd(name: str) -> None:
    validator = crd_validator(NODE_CLASS_KIND)
    classes = node_classes(stack(name))
    assert classes
    for inputs in classes.values():
        validator.validate(as_object(NODE_CLASS_KIND, NODE_CLASS_API, inputs))


def test_the_crd_check_catches_a_broken_node_class() -> None:
    inputs = copy.deepcopy(node_classes(stack("dev"))["gpu-al2023"])
    inputs["spec"]["blockDeviceMappings"][0]["ebs"]["volumeSize"] = "150"  # no unit
    with pytest.raises(jsonschema.ValidationError, match=r"does not match"):
        crd_validator(NODE_CLASS_KIND).validate(as_object(NODE_CLASS_KIND, NODE_CLASS_API, inputs))


@pytest.mark.parametrize("name", CASES)
def test_each_family_boots_its_pinned_ami_from_encrypted_gp3(name: str) -> None:
    settings = stack_settings(name).cluster.karpenter
    classes = node_classes(stack(name))
    assert set(classes) == {node_class_name(f) for f in settings.node_classes}
    for family, wanted in settings.node_classes.items():
        spec = classes[node_class_name(family)]["spec"]
        assert spec["amiSelectorTerms"] == [{"alias": wanted.ami_alias}]
        assert not wanted.ami_alias.endswith("@latest")
        volumes = {d["deviceName"]: d["ebs"] for d in spec["blockDeviceMappings"]}
        for ebs in volumes.values():
            assert ebs["volumeType"] == "gp3"
            assert ebs["encrypted"] is True and ebs["deleteOnTermination"] is True
        if family == "Bottlerocket":
            # A small OS volume; images and containers on the data volume.
            assert volumes == {
                "/dev/xvda": {**volumes["/dev/xvda"], "volumeSize": "4Gi"},
                "/dev/xvdb": {**volumes["/dev/xvdb"], "volumeSize": f"{wanted.disk_size_gib}Gi"},
            }
        else:
            assert list(volumes) == ["/dev/xvda"]
            assert volumes["/dev/xvda"]["volumeSize"] == f"{wanted.disk_size_gib}Gi"


def test_instance_metadata_needs_a_token_and_stays_on_the_node() -> None:
    for spec in (c["spec"] for c in node_classes(stack("prod")).values()):
        assert spec["metadataOptions"] == {
            "httpEndpoint": "enabled",
            "httpProtocolIPv6": "disabled",
            "httpTokens": "required",
            "httpPutResponseHopLimit": 1,
        }


def test_nodes_use_the_stacks_instance_profile_and_carry_the_cost_tags() -> None:
    plan = stack("prod")
    settings = stack_settings("prod")
    profile = plan.one("aws:iam/instanceProfile:InstanceProfile")
    exact, prefixes = reserved_tags()
    assert exact and prefixes  # read from the CRD's own rules
    for node_class in node_classes(plan).values():
        spec = node_class["spec"]
        assert spec["instanceProfile"] == profile.id
        assert "role" not in spec  # Karpenter would then manage a profile itself
        assert spec["tags"] == cost_tags(settings)
        assert not set(spec["tags"]) & exact
        assert not any(k.startswith(p) for k in spec["tags"] for p in prefixes)
        assert node_class["metadata"]["labels"] == cost_labels(settings)


def test_a_reserved_tag_key_is_refused_before_the_api_server_does() -> None:
    exact, prefixes = reserved_tags()
    for key in [*exact, *(f"{p}/mine" for p in prefixes)]:
        with pytest.raises(ValueError, match="reserves"):
            instance_tags({"team": "ml", key: "x"})


def subnet_tags(settings: StackSettings) -> tuple[list[dict], list[dict]]:
    """The tags of the stack's node subnets, and of its other subnets."""

    def program(provider, account):
        args = NetworkArgs(settings.network, settings.naming, account, KEY)
        return {"nodes": Network("network", args, opts=on(provider)).node_subnet_ids}

    declared = declare(program, settings)
    nodes, others = [], []
    for subnet in declared.of_type("aws:ec2/subnet:Subnet"):
        (nodes if subnet.id in declared.values["nodes"] else others).append(subnet.inputs["tags"])
    return nodes, others


@pytest.mark.parametrize("name", CASES)
def test_selectors_find_the_node_subnets_and_the_cluster_security_group(name: str) -> None:
    settings = stack_settings(name)
    plan = stack(name)
    wanted = {KARPENTER_DISCOVERY_TAG: settings.naming.cluster}
    for node_class in node_classes(plan).values():
        spec = node_class["spec"]
        assert spec["subnetSelectorTerms"] == [{"tags": wanted}]
        assert spec["securityGroupSelectorTerms"] == [{"tags": wanted}]
    # The network tags exactly the subnets nodes run in.
    nodes, others = subnet_tags(settings)
    assert nodes and others
    assert all(tags.items() >= wanted.items() for tags in nodes)
    assert not any(KARPENTER_DISCOVERY_TAG in tags for tags in others)
    # And the stack tags the security group EKS made for the cluster.
    tag = plan.one("aws:ec2/tag:Tag", "cluster-security-group-discovery").inputs
    assert tag == {
        "resourceId": plan.values["securityGroup"],
        "key": KARPENTER_DISCOVERY_TAG,
        "value": settings.naming.cluster,
    }


def test_bottlerocket_pools_boot_the_bottlerocket_class() -> None:
    plan = bottlerocket()
    classes = node_classes(plan)
    for pool in plan.of_type("kubernetes:karpenter.sh/v1:NodePool"):
        ref = pool.inputs["spec"]["template"]["spec"]["nodeClassRef"]
        assert ref == {
            "group": "karpenter.k8s.aws",
            "kind": NODE_CLASS_KIND,
            "name": "gpu-bottlerocket",
        }
        assert ref["name"] in classes
