"""The whole program, dev and prod: every resource `pulumi up` would declare, checked at once."""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes_validate.utils import validate as validate_k8s

from infra.components.ci_access import GITHUB_OIDC_HOST
from infra.components.serving import MODEL_SERVING_TYPE, model_serving_urn
from infra.helpers.iam import STS_AUDIENCE
from infra.helpers.labels import ACCELERATOR_LABEL
from infra.helpers.tags import cost_labels, cost_tags
from ml.core.artifacts import bento_report
from tests.support.plans import plan_json
from tests.support.pulumi_unit import PROJECT, stack_settings

STACKS = ("dev", "prod")
EXPLICIT_PROVIDER_PACKAGES = ("aws", "kubernetes")


@pytest.fixture(scope="module", params=STACKS)
def plan(request: pytest.FixtureRequest) -> dict[str, Any]:
    return plan_json(request.param)


def resources(plan: dict[str, Any], token: str) -> list[dict[str, Any]]:
    return [r for r in plan["resources"] if r["type"] == token]


def aws_class(token: str) -> type:
    """`aws:s3/bucket:Bucket` -> pulumi_aws.s3.Bucket."""
    _, module, name = token.split(":")
    package = importlib.import_module(f"pulumi_aws.{module.split('/')[0]}")
    return getattr(package, name)


def takes_tags(token: str) -> bool:
    return "tags" in inspect.signature(aws_class(token)._internal_init).parameters


PLAN_FIELDS = ("urn", "type", "name", "parent", "provider", "id", "inputs", "aliases")


def test_plan_has_the_documented_shape(plan: dict[str, Any]) -> None:
    assert set(plan) == {"project", "stack", "resources", "counts", "outputs", "model"}
    assert plan["project"] == PROJECT
    for resource in plan["resources"]:
        assert set(resource) == {
            "urn",
            "type",
            "name",
            "parent",
            "provider",
            "id",
            "inputs",
            "aliases",
            "dependencies",
        }
        assert (resource["id"] is None) == resource["type"].startswith(("mlops:", "pulumi:pulumi"))
    assert sum(plan["counts"].values()) == len(plan["resources"])
    urns = [r["urn"] for r in plan["resources"]]
    assert len(set(urns)) == len(urns)
    roots = [r for r in plan["resources"] if r["parent"] is None]
    assert [r["type"] for r in roots] == ["pulumi:pulumi:Stack"]
    assert all(r["parent"] in urns for r in plan["resources"] if r["parent"])
    assert all(set(r["dependencies"]) <= set(urns) for r in plan["resources"])


def test_every_cloud_resource_names_its_provider(plan: dict[str, Any]) -> None:
    custom = [r for r in plan["resources"] if r["type"].split(":")[0] in EXPLICIT_PROVIDER_PACKAGES]
    assert custom and all(r["provider"] for r in custom)
    (aws,) = resources(plan, "pulumi:providers:aws")
    assert {r["provider"] for r in custom if r["type"].startswith("aws:")} == {aws["urn"]}


def test_every_taggable_resource_carries_the_cost_tags(plan: dict[str, Any]) -> None:
    expected = cost_tags(stack_settings(plan["stack"]))
    providers = {
        p["urn"]: json.loads(p["inputs"].get("defaultTags", "{}")).get("tags", {})
        for p in resources(plan, "pulumi:providers:aws")
    }
    taggable = [
        r for r in plan["resources"] if r["type"].startswith("aws:") and takes_tags(r["type"])
    ]
    assert len({r["type"] for r in taggable}) >= 15
    for resource in taggable:
        direct = resource["inputs"].get("tags") or {}
        inherited = providers.get(resource["provider"], {})
        effective = {**inherited, **direct}
        assert expected.items() <= effective.items(), resource["urn"]


def test_resources_tags_cannot_reach_carry_them_explicitly(plan: dict[str, Any]) -> None:
    expected = cost_tags(stack_settings(plan["stack"]))
    for template in resources(plan, "aws:ec2/launchTemplate:LaunchTemplate"):
        specs = {s["resourceType"]: s["tags"] for s in template["inputs"]["tagSpecifications"]}
        for kind in ("instance", "volume"):
            assert expected.items() <= specs[kind].items()
    groups = resources(plan, "aws:eks/nodeGroup:NodeGroup")
    asg_tags = resources(plan, "aws:autoscaling/tag:Tag")
    for key, value in expected.items():
        tagged = [
            t
            for t in asg_tags
            if t["inputs"]["tag"] == {"key": key, "value": value, "propagateAtLaunch": False}
        ]
        assert len(tagged) == len(groups)


def _buckets_config(plan: dict[str, Any], token: str) -> dict[str, dict[str, Any]]:
    return {r["inputs"]["bucket"]: r["inputs"] for r in resources(plan, token)}


def test_every_bucket_is_versioned_encrypted_and_private(plan: dict[str, Any]) -> None:
    buckets = [b["inputs"]["bucket"] for b in resources(plan, "aws:s3/bucket:Bucket")]
    assert len(buckets) == 3
    versioning = _buckets_config(plan, "aws:s3/bucketVersioning:BucketVersioning")
    encryption = _buckets_config(
        plan,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    )
    blocks = _buckets_config(plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    for bucket in buckets:
        assert versioning[bucket]["versioningConfiguration"]["status"] == "Enabled"
        algorithm = encryption[bucket]["rules"][0]["applyServerSideEncryptionByDefault"]
        assert algorithm["sseAlgorithm"] in {"aws:kms", "AES256"}
        assert all(
            blocks[bucket][flag] is True
            for flag in (
                "blockPublicAcls",
                "blockPublicPolicy",
                "ignorePublicAcls",
                "restrictPublicBuckets",
            )
        )


def policy_documents(value: Any) -> Iterator[dict[str, Any]]:
    """Every IAM/KMS/S3 policy document inside a resource's inputs (JSON text with Statement)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from policy_documents(item)
    elif isinstance(value, list):
        for item in value:
            yield from policy_documents(item)
    elif isinstance(value, str) and value.startswith("{") and '"Statement"' in value:
        yield json.loads(value)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_policy_allows_everything_on_everything(plan: dict[str, Any]) -> None:
    documents = [d for r in plan["resources"] for d in policy_documents(r["inputs"])]
    assert len(documents) >= 13  # 5 trusts, 4 role policies, 3 bucket policies, 1 key
    for document in documents:
        for statement in document["Statement"]:
            assert "NotAction" not in statement and "NotResource" not in statement
            if statement["Effect"] != "Allow":
                continue
            actions = _as_list(statement.get("Action", []))
            assert "*" not in actions, statement
            if "Resource" in statement:  # trust policies have none
                assert not ("*" in actions and "*" in _as_list(statement["Resource"]))


def test_inline_role_policies_fit_iam_limits(plan: dict[str, Any]) -> None:
    # IAM holds at most 10,240 characters of inline policy per role (whitespace not counted).
    for role_policy in resources(plan, "aws:iam/rolePolicy:RolePolicy"):
        compact = json.dumps(json.loads(role_policy["inputs"]["policy"]), separators=(",", ":"))
        assert len(compact) < 10_240, role_policy["name"]


def test_gpu_capacity_is_karpenter_node_pools_behind_the_taint(plan: dict[str, Any]) -> None:
    groups = resources(plan, "aws:eks/nodeGroup:NodeGroup")
    # Only the system pool is a managed node group; no autoscaler resizes anything.
    assert [g["inputs"]["labels"].get(ACCELERATOR_LABEL) for g in groups] == [None]
    assert not [r for r in plan["resources"] if "autoscaler" in r["name"]]
    pools = resources(plan, "kubernetes:karpenter.sh/v1:NodePool")
    settings = stack_settings(plan["stack"]).cluster
    assert sorted(p["inputs"]["metadata"]["name"] for p in pools) == sorted(
        p.name for p in settings.node_pools
    )
    for pool in pools:
        spec = pool["inputs"]["spec"]
        taint = {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
        assert taint in spec["template"]["spec"]["taints"]
        assert int(spec["limits"]["nvidia.com/gpu"]) >= 1
        labels = spec["template"]["metadata"]["labels"]
        assert labels[ACCELERATOR_LABEL] == "nvidia" and labels["workload-type"]


def test_karpenter_crds_come_before_every_node_pool_and_node_class(plan: dict[str, Any]) -> None:
    """NodePools in the same `pulumi up` as the chart that brings their CRDs would fail on a new
    cluster (pulumi-kubernetes #3188, #3176): the CRDs are a release of their own, first."""
    releases = {
        r["inputs"]["chart"].rpartition("/")[2]: r
        for r in resources(plan, "kubernetes:helm.sh/v3:Release")
    }
    crds, controller = releases["karpenter-crd"], releases["karpenter"]
    assert controller["inputs"]["skipCrds"] is True
    assert crds["urn"] in controller["dependencies"]
    custom = [
        *resources(plan, "kubernetes:karpenter.sh/v1:NodePool"),
        *resources(plan, "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"),
    ]
    assert len(custom) == len(stack_settings(plan["stack"]).cluster.node_pools) + 2
    for obj in custom:
        assert {crds["urn"], controller["urn"]} <= set(obj["dependencies"]), obj["name"]


def test_every_github_trust_names_the_repository(plan: dict[str, Any]) -> None:
    repository = stack_settings(plan["stack"]).identity.repository
    trusts = [
        statement
        for role in resources(plan, "aws:iam/role:Role")
        for statement in json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
        if statement["Principal"].get("Federated", "").endswith(GITHUB_OIDC_HOST)
    ]
    assert len(trusts) == 3  # plan, deploy, infra
    for statement in trusts:
        conditions = statement["Condition"]["StringEquals"]
        assert conditions[f"{GITHUB_OIDC_HOST}:aud"] == "sts.amazonaws.com"
        subjects = _as_list(conditions[f"{GITHUB_OIDC_HOST}:sub"])
        assert subjects and all(s.startswith(f"repo:{repository}:") for s in subjects)
        assert not any("*" in s for s in subjects)


def test_nat_gateways_follow_the_stack(plan: dict[str, Any]) -> None:
    expected = {"dev": 0, "prod": 3}[plan["stack"]]
    assert len(resources(plan, "aws:ec2/natGateway:NatGateway")) == expected


def test_outputs_tell_ci_and_dvc_where_things_are(plan: dict[str, Any]) -> None:
    outputs = plan["outputs"]
    assert outputs["dvcRemoteUrl"] == f"s3://{outputs['dvcBucket']}/dvc"
    assert outputs["kubeconfig"] == "[secret]"
    assert outputs["region"] == stack_settings(plan["stack"]).region
    assert outputs["clusterName"] == stack_settings(plan["stack"]).naming.cluster
    assert outputs["ecrRepositoryUrl"].endswith(
        f"/{stack_settings(plan['stack']).naming.ecr_repository}"
    )
    for key in ("ciPlanRoleArn", "ciDeployRoleArn", "karpenterRoleArn", "trainingRunnerRoleArn"):
        assert outputs[key].startswith("arn:aws:iam::")
    assert outputs["runnerImageRepositoryUrl"].endswith(
        f"/{stack_settings(plan['stack']).naming.repository('runners')}"
    )
    project, environment = stack_settings(plan["stack"]).naming.prefix.rsplit("-", 1)
    assert outputs["trainingRunner"] == f"{project}-{environment}-gpu-training"


def test_every_web_identity_trust_pins_audience_and_exact_subjects(plan: dict[str, Any]) -> None:
    """GitHub's and the cluster's (IRSA) OIDC trusts: STS audience, exact subjects only."""
    trusts = [
        statement
        for role in resources(plan, "aws:iam/role:Role")
        for statement in json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
        if "Federated" in statement["Principal"]
    ]
    irsa = 0
    for statement in trusts:
        assert set(statement["Condition"]) == {"StringEquals"}
        condition = statement["Condition"]["StringEquals"]
        (audience,) = [v for k, v in condition.items() if k.endswith(":aud")]
        (subjects,) = [_as_list(v) for k, v in condition.items() if k.endswith(":sub")]
        assert audience == STS_AUDIENCE
        assert subjects and not any("*" in s for s in subjects)
        if not statement["Principal"]["Federated"].endswith(GITHUB_OIDC_HOST):
            irsa += 1
            (subject,) = subjects
            assert subject.startswith("system:serviceaccount:")
    # Karpenter, EBS CSI driver, Alertmanager, model pods, drift job, training runners.
    assert irsa == 6


def k8s_objects(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        r
        for r in plan["resources"]
        if r["type"].startswith("kubernetes:") and "metadata" in r["inputs"]
    ]


def test_kubernetes_objects_and_workloads_carry_the_cost_labels(plan: dict[str, Any]) -> None:
    labels = cost_labels(stack_settings(plan["stack"]))
    objects = k8s_objects(plan)
    assert len(objects) > 15
    for obj in objects:
        assert labels.items() <= obj["inputs"]["metadata"]["labels"].items(), obj["urn"]
    pods = [
        *(r["inputs"]["spec"]["template"] for r in resources(plan, _ROLLOUT)),
        *(
            r["inputs"]["spec"]["jobTemplate"]["spec"]["template"]
            for r in resources(plan, "kubernetes:batch/v1:CronJob")
        ),
    ]
    assert len(pods) == 2
    for pod in pods:
        assert labels.items() <= pod["metadata"]["labels"].items()
    # Charts label their workloads through their values; the device plugin's chart has no
    # setting for it (it runs only on GPU nodes, whose instances carry the cost tags), and
    # karpenter-crd installs CRDs only (no workload).
    for release in resources(plan, "kubernetes:helm.sh/v3:Release"):
        if release["inputs"]["chart"].rpartition("/")[2] in (
            "nvidia-device-plugin",
            "karpenter-crd",
        ):
            continue
        assert _contains(json.loads(json.dumps(release["inputs"]["values"])), labels), release[
            "name"
        ]


def _contains(value: Any, labels: dict[str, str]) -> bool:
    if isinstance(value, dict):
        if labels.items() <= value.items():
            return True
        return any(_contains(v, labels) for v in value.values())
    if isinstance(value, list):
        return any(_contains(v, labels) for v in value)
    return False


# Core objects kubernetes-validate checks (Secrets are left out: the plan hides their data).
CORE_OBJECTS = {
    "Namespace",
    "Service",
    "ServiceAccount",
    "ConfigMap",
    "CronJob",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "Role",
    "RoleBinding",
    "StorageClass",
}
_ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"


def test_core_kubernetes_objects_are_valid(plan: dict[str, Any]) -> None:
    version = stack_settings(plan["stack"]).cluster.version
    checked = set()
    for obj in k8s_objects(plan):
        kind = obj["inputs"].get("kind")
        if kind in CORE_OBJECTS:
            validate_k8s(obj["inputs"], version, strict=True)
            checked.add(kind)
    assert checked == CORE_OBJECTS


def test_the_shipped_model_is_planned_with_its_drift_check(plan: dict[str, Any]) -> None:
    assert plan["model"] == bento_report()["bento"]
    (serving,) = resources(plan, MODEL_SERVING_TYPE)
    assert serving["urn"] == model_serving_urn(PROJECT, plan["stack"])
    children = {
        r["type"].rsplit(":", 1)[-1] for r in plan["resources"] if r["parent"] == serving["urn"]
    }
    assert {"Rollout", "AnalysisTemplate", "CronJob", "ServiceMonitor"} <= children
    (rollout,) = resources(plan, _ROLLOUT)
    version = plan["model"].split(":", 1)[1]
    assert rollout["inputs"]["spec"]["template"]["metadata"]["labels"]["model-version"] == version
