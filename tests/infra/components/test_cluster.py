"""The EKS cluster: control plane, the system pool, IRSA, the GPU device plugin, volumes."""

from __future__ import annotations

import json

import pytest

from infra.components.cluster import EBS_CSI_ADDON, GP3_STORAGE_CLASS
from infra.helpers.charts import NVIDIA_DEVICE_PLUGIN
from infra.helpers.labels import (
    ACCELERATOR_LABEL,
    DEVICE_PLUGIN_LABEL,
    NODE_POOL_LABEL,
    WORKLOAD_LABEL,
)
from infra.helpers.tags import cost_labels, cost_tags
from infra.settings import StackSettings
from infra.tools.mocks import ACCOUNT_ID
from tests.support.pulumi_unit import KEY, Declared, declare, policy, stack_cluster, stack_settings

ADMIN = f"arn:aws:iam::{ACCOUNT_ID}:role/platform-admins"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
ASG_TAG = "aws:autoscaling/tag:Tag"
RELEASE = "kubernetes:helm.sh/v3:Release"


def build(settings: StackSettings) -> Declared:
    def program(provider, account):
        cluster = stack_cluster(settings, provider, account)
        return {
            "kubeconfig": cluster.kubeconfig,
            "issuer": cluster.oidc_issuer_url,
            "endpoint": cluster.endpoint,
            "securityGroup": cluster.security_group_id,
        }

    return declare(program, settings)


@pytest.fixture(scope="module")
def prod() -> Declared:
    return build(stack_settings("prod"))


@pytest.fixture(scope="module")
def bottlerocket() -> Declared:
    """dev with its GPU pools on Bottlerocket (device plugin built in) and an extra admin."""
    settings = stack_settings("dev")
    pools = [
        p.model_copy(update={"ami_family": "Bottlerocket"}) for p in settings.cluster.node_pools
    ]
    cluster = settings.cluster.model_copy(update={"node_pools": pools, "admin_role_arns": [ADMIN]})
    return build(settings.model_copy(update={"cluster": cluster}))


def releases(declared: Declared) -> dict[str, dict]:
    return {r.name: r.inputs for r in declared.of_type(RELEASE)}


def test_control_plane_is_locked_down(prod: Declared) -> None:
    settings = stack_settings("prod")
    cluster = prod.one("aws:eks/cluster:Cluster").inputs
    assert cluster["name"] == settings.naming.cluster
    assert cluster["version"] == settings.cluster.version
    assert cluster["accessConfig"] == {
        "authenticationMode": "API",
        "bootstrapClusterCreatorAdminPermissions": True,
    }
    assert cluster["encryptionConfig"] == {"provider": {"keyArn": KEY}, "resources": ["secrets"]}
    assert cluster["enabledClusterLogTypes"] == list(settings.cluster.log_types)
    assert cluster["upgradePolicy"] == {"supportType": "STANDARD"}
    assert cluster["deletionProtection"] is True
    assert cluster["vpcConfig"]["endpointPrivateAccess"] is True
    logs = prod.one("aws:cloudwatch/logGroup:LogGroup").inputs
    assert logs == {
        "name": settings.naming.cluster_log_group,
        "retentionInDays": settings.cluster.log_retention_days,
        "kmsKeyId": KEY,
    }


def vpc_config(declared: Declared) -> dict:
    return declared.one("aws:eks/cluster:Cluster").inputs["vpcConfig"]


def test_prod_api_is_private_only(prod: Declared) -> None:
    vpc = vpc_config(prod)
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["endpointPublicAccess"] is False
    # No CIDRs without a public endpoint: AWS would ignore them, and they would mislead.
    assert "publicAccessCidrs" not in vpc


@pytest.mark.parametrize("cidrs", [["0.0.0.0/0"], ["203.0.113.0/24", "198.51.100.7/32"]])
def test_public_endpoint_and_its_cidrs_come_from_the_settings(cidrs: list[str]) -> None:
    settings = stack_settings("dev")
    cluster = settings.cluster.model_copy(update={"public_access_cidrs": cidrs})
    vpc = vpc_config(build(settings.model_copy(update={"cluster": cluster})))
    # The private endpoint stays on whatever the stack says: the nodes reach the API through it.
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["endpointPublicAccess"] is True
    assert vpc["publicAccessCidrs"] == cidrs


def test_cluster_and_node_roles_use_managed_policies(prod: Declared) -> None:
    attached = {
        r.inputs["policyArn"].rsplit("/", 1)[1]
        for r in prod.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    }
    assert {
        "AmazonEKSClusterPolicy",
        "AmazonEKSWorkerNodePolicy",
        "AmazonEKS_CNI_Policy",
        "AmazonEC2ContainerRegistryPullOnly",
    } <= attached
    secrets = prod.one("aws:iam/rolePolicy:RolePolicy", "cluster-secrets-key").inputs
    (statement,) = policy(secrets["policy"])["Statement"]
    assert statement["Resource"] == KEY


def test_irsa_provider_trusts_the_cluster_issuer(prod: Declared) -> None:
    provider = prod.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "irsa").inputs
    assert provider["url"] == prod.values["issuer"]
    assert provider["clientIdLists"] == ["sts.amazonaws.com"]


def test_the_system_pool_is_the_only_managed_node_group(prod: Declared) -> None:
    """GPU nodes come from Karpenter's NodePools; the system pool stays a managed node group,
    sized by the stack alone (no autoscaler resizes it any more)."""
    settings = stack_settings("prod")
    (group,) = prod.of_type(NODE_GROUP)
    pool = settings.cluster.system_pool
    assert group.name == pool.name
    assert group.inputs["taints"] == [] and group.inputs["capacityType"] == "ON_DEMAND"
    assert group.inputs["scalingConfig"] == {
        "minSize": pool.min_size,
        "maxSize": pool.max_size,
        "desiredSize": pool.desired_size,
    }
    assert group.inputs["labels"] == {
        **cost_labels(settings),
        NODE_POOL_LABEL: pool.name,
        WORKLOAD_LABEL: "system",
    }


def test_cluster_exposes_what_karpenter_needs(prod: Declared) -> None:
    cluster = prod.one("aws:eks/cluster:Cluster")
    assert prod.values["endpoint"].startswith("https://")
    assert prod.values["endpoint"].endswith(".eks.amazonaws.com")
    assert prod.values["securityGroup"].startswith("sg-")
    assert cluster.id == stack_settings("prod").naming.cluster


def test_launch_templates_encrypt_require_imdsv2_and_tag_instances(prod: Declared) -> None:
    tags = cost_tags(stack_settings("prod"))
    for template in prod.of_type(LAUNCH_TEMPLATE):
        inputs = template.inputs
        (device,) = inputs["blockDeviceMappings"]
        assert device["deviceName"] == "/dev/xvda"
        assert device["ebs"]["encrypted"] == "true" and device["ebs"]["volumeType"] == "gp3"
        assert inputs["metadataOptions"]["httpTokens"] == "required"
        assert inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1
        kinds = {spec["resourceType"]: spec["tags"] for spec in inputs["tagSpecifications"]}
        assert {"instance", "volume"} <= set(kinds)
        for spec_tags in kinds.values():
            assert tags.items() <= spec_tags.items()
    group = prod.one(NODE_GROUP, "system").inputs
    assert group["launchTemplate"]["id"].startswith("lt-")
    assert "diskSize" not in group  # the launch template sizes the disk


def asg_tags(declared: Declared, pool: str) -> dict[str, dict]:
    return {
        r.inputs["tag"]["key"]: r.inputs
        for r in declared.of_type(ASG_TAG)
        if r.name.startswith(f"{pool}-")
        and r.parent is not None
        and r.parent.endswith(f"NodePool::{pool}")
    }


def test_the_system_pools_auto_scaling_group_carries_the_cost_tags_only(prod: Declared) -> None:
    tags = asg_tags(prod, "system")
    assert {k: v["tag"]["value"] for k, v in tags.items()} == cost_tags(stack_settings("prod"))
    for tag in tags.values():
        assert tag["tag"]["propagateAtLaunch"] is False
        assert tag["autoscalingGroupName"].startswith("eks-")


def test_device_plugin_runs_only_on_gpu_nodes(prod: Declared) -> None:
    release = releases(prod)["nvidia-device-plugin"]
    assert release["version"] == NVIDIA_DEVICE_PLUGIN.version
    terms = release["values"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    assert terms == [
        {
            "matchExpressions": [
                {"key": ACCELERATOR_LABEL, "operator": "In", "values": ["nvidia"]},
                {"key": DEVICE_PLUGIN_LABEL, "operator": "In", "values": ["daemonset"]},
            ]
        }
    ]
    tolerated = {t["key"] for t in release["values"]["tolerations"]}
    assert "nvidia.com/gpu" in tolerated


def test_helm_releases_go_through_the_cluster_kubeconfig(prod: Declared) -> None:
    kubernetes = prod.one("pulumi:providers:kubernetes")
    for release in prod.of_type(RELEASE):
        assert release.provider == kubernetes.urn
    config = json.loads(prod.values["kubeconfig"])
    command = config["users"][0]["user"]["exec"]
    assert command["command"] == "aws"
    assert command["args"][:4] == [
        "eks",
        "get-token",
        "--cluster-name",
        stack_settings("prod").naming.cluster,
    ]
    assert "token" not in json.dumps(config["users"][0]["user"]).replace("get-token", "")


def test_without_al2023_gpu_pools_no_device_plugin_is_installed(bottlerocket: Declared) -> None:
    """Bottlerocket's NVIDIA AMIs ship the plugin; the DaemonSet only serves AL2023 nodes."""
    assert "nvidia-device-plugin" not in releases(bottlerocket)
    assert not bottlerocket.of_type("mlops:cluster:NvidiaDevicePlugin")


def test_a_bottlerocket_system_pool_boots_from_its_data_volume() -> None:
    settings = stack_settings("dev")
    pool = settings.cluster.system_pool.model_copy(update={"ami_type": "BOTTLEROCKET_x86_64"})
    cluster = settings.cluster.model_copy(update={"system_pool": pool})
    declared = build(settings.model_copy(update={"cluster": cluster}))
    template = declared.one(LAUNCH_TEMPLATE, "system").inputs
    assert template["blockDeviceMappings"][0]["deviceName"] == "/dev/xvdb"


def test_admin_roles_get_cluster_admin_access(bottlerocket: Declared) -> None:
    entry = bottlerocket.one("aws:eks/accessEntry:AccessEntry", "admin-0").inputs
    assert entry["principalArn"] == ADMIN and entry["type"] == "STANDARD"
    association = bottlerocket.one(
        "aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "admin-0"
    ).inputs
    assert association["policyArn"].endswith("cluster-access-policy/AmazonEKSClusterAdminPolicy")
    assert association["accessScope"] == {"type": "cluster"}


def test_volumes_come_from_the_ebs_csi_driver_encrypted_and_cost_tagged(prod: Declared) -> None:
    addon = prod.one("aws:eks/addon:Addon", EBS_CSI_ADDON).inputs
    role_name = f"{stack_settings('prod').naming.prefix}-ebs-csi"
    role = prod.one("aws:iam/role:Role", role_name)
    assert addon["serviceAccountRoleArn"].startswith(f"arn:aws:iam::{ACCOUNT_ID}:role/{role_name}-")
    (trust,) = policy(role.inputs["assumeRolePolicy"])["Statement"]
    (subject,) = [v for k, v in trust["Condition"]["StringEquals"].items() if k.endswith(":sub")]
    assert subject == ["system:serviceaccount:kube-system:ebs-csi-controller-sa"]
    attachment = prod.one(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "ebs-csi-AmazonEBSCSIDriverPolicy"
    )
    assert attachment.inputs["policyArn"] == (
        "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
    )
    storage_class = prod.one("kubernetes:storage.k8s.io/v1:StorageClass").inputs
    assert storage_class["metadata"]["name"] == GP3_STORAGE_CLASS
    assert storage_class["provisioner"] == "ebs.csi.aws.com"
    assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"
    parameters = storage_class["parameters"]
    assert (parameters["type"], parameters["encrypted"]) == ("gp3", "true")
    specs = [v for k, v in parameters.items() if k.startswith("tagSpecification_")]
    tagged = dict(spec.split("=", 1) for spec in specs)
    assert tagged == cost_tags(stack_settings("prod"))


def test_stacks_find_the_cluster_under_its_former_type_tokens(prod: Declared) -> None:
    """The components were `mlops:infra:*` before: each resource under them keeps its old URN
    as an alias, so `pulumi up` on an existing stack updates instead of replacing."""
    renamed = {
        f"mlops:cluster:{name}": f"mlops:infra:{name}"
        for name in ("Cluster", "NodePool", "NvidiaDevicePlugin")
    }
    moved = [r for r in prod.registrations if "mlops:cluster:" in r.urn]
    assert {r.type for r in moved if r.type.startswith("mlops:")} == set(renamed)
    for registration in moved:
        former = registration.urn
        for new, old in renamed.items():
            former = former.replace(new, old)
        assert former in registration.aliases, registration.urn
