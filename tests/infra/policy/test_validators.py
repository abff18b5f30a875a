"""The policy pack's checks, called as CrossGuard calls them, on compliant and violating input.

Properties are wrapped in CrossGuard's own unknown-checking proxies, as during a real preview.
The last tests run every policy over the real dev and prod plans: our stacks pass our policies.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyProviderResource,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from infra.policy import validators
from infra.policy.pack import policies
from ml.core.identity import COST_TAG_KEYS, load_identity
from tests.infra.policy.crossguard import OPTIONS, URN_PREFIX, resource_args, violations
from tests.support.rendering import stack_plan

PROVIDER_URN = f"{URN_PREFIX}pulumi:providers:aws::aws"
TAGS = load_identity().cost_tags("dev")
BUCKET = "aws:s3/bucket:Bucket"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"


def provider(tags: dict[str, str] | None = TAGS) -> PolicyProviderResource:
    props: dict[str, Any] = {"region": "us-east-1"}
    if tags is not None:
        # The engine hands provider inputs over as JSON text.
        props["defaultTags"] = json.dumps({"tags": tags})
    return PolicyProviderResource(
        "pulumi:providers:aws", unknown_checking_proxy(props), PROVIDER_URN, "aws"
    )


# --- Cost tags --------------------------------------------------------------------------------


def test_provider_default_tags_satisfy_the_cost_tags() -> None:
    args = resource_args("aws:s3/bucket:Bucket", {"bucket": "b"}, provider())
    assert violations(validators.require_cost_tags, args) == []


def test_tags_all_or_own_tags_satisfy_the_cost_tags() -> None:
    own = resource_args("aws:kms/key:Key", {"tags": TAGS}, provider(None))
    assert violations(validators.require_cost_tags, own) == []
    computed = resource_args("aws:kms/key:Key", {"tagsAll": TAGS}, None)
    assert violations(validators.require_cost_tags, computed) == []


def test_missing_cost_tags_are_named() -> None:
    partial = {k: v for k, v in TAGS.items() if k not in ("team", "cost-center")}
    args = resource_args("aws:ec2/vpc:Vpc", {"cidrBlock": "10.0.0.0/16"}, provider(partial))
    ((message, _),) = violations(validators.require_cost_tags, args)
    assert "team, cost-center" in message


def test_untaggable_types_are_not_asked_for_tags() -> None:
    for resource_type in (
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "kubernetes:core/v1:ConfigMap",
    ):
        args = resource_args(resource_type, {}, provider(None))
        assert violations(validators.require_cost_tags, args) == [], resource_type


def test_taggable_types_come_from_the_aws_sdk() -> None:
    assert validators.is_taggable("aws:eks/nodeGroup:NodeGroup")
    assert validators.is_taggable("aws:lambda/function:Function")  # module `lambda_`
    assert not validators.is_taggable("aws:s3/bucketPolicy:BucketPolicy")
    assert not validators.is_taggable("aws:nosuchmodule/thing:Thing")


def test_unknown_tags_during_preview_fall_back_to_the_provider_defaults() -> None:
    args = resource_args("aws:kms/key:Key", {"tagsAll": UNKNOWN_STRING_VALUE}, provider())
    assert violations(validators.require_cost_tags, args) == []


# --- Buckets ----------------------------------------------------------------------------------


def policy_resource(
    resource_type: str, name: str, props: dict[str, Any], **dependencies: list[PolicyResource]
) -> PolicyResource:
    return PolicyResource(
        resource_type,
        unknown_checking_proxy(props),
        f"{URN_PREFIX}{resource_type}::{name}",
        name,
        OPTIONS,
        None,
        None,
        [d for deps in dependencies.values() for d in deps],
        dict(dependencies),
    )


ALL_BLOCKED = {
    "blockPublicAcls": True,
    "blockPublicPolicy": True,
    "ignorePublicAcls": True,
    "restrictPublicBuckets": True,
}
KMS_RULES = {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]}


def bucket_stack(
    encryption: dict[str, Any] | None = KMS_RULES,
    block: dict[str, Any] | None = ALL_BLOCKED,
    by_name: bool = False,
    **bucket_props: Any,
) -> tuple[StackValidationArgs, PolicyResource]:
    bucket = policy_resource(BUCKET, "data", {"bucket": "data-123", **bucket_props})
    # During a preview the link is a property dependency; in a plan, the bucket's name.
    link: dict[str, Any] = {} if by_name else {"bucket": [bucket]}
    target = {"bucket": "data-123" if by_name else UNKNOWN_STRING_VALUE}
    resources = [bucket]
    if encryption is not None:
        resources.append(policy_resource(SSE, "data", {**target, **encryption}, **link))
    if block is not None:
        resources.append(policy_resource(BLOCK, "data", {**target, **block}, **link))
    return StackValidationArgs(resources), bucket


@pytest.mark.parametrize("by_name", [False, True])
def test_encrypted_private_buckets_pass(by_name: bool) -> None:
    args, _ = bucket_stack(by_name=by_name)
    assert violations(validators.encrypted_private_buckets, args) == []


def test_unencrypted_bucket_is_reported_on_the_bucket() -> None:
    args, bucket = bucket_stack(encryption=None)
    ((message, urn),) = violations(validators.encrypted_private_buckets, args)
    assert "no default encryption" in message
    assert urn == bucket.urn


def test_encryption_without_an_algorithm_does_not_count() -> None:
    args, _ = bucket_stack(encryption={"rules": [{"bucketKeyEnabled": True}]})
    assert "no default encryption" in violations(validators.encrypted_private_buckets, args)[0][0]


@pytest.mark.parametrize(
    "block", [None, {**ALL_BLOCKED, "restrictPublicBuckets": False}], ids=["none", "partial"]
)
def test_bucket_without_a_full_public_access_block_is_reported(
    block: dict[str, Any] | None,
) -> None:
    args, bucket = bucket_stack(block=block)
    ((message, urn),) = violations(validators.encrypted_private_buckets, args)
    assert "may become public" in message
    assert urn == bucket.urn


def test_public_acl_is_reported() -> None:
    args, _ = bucket_stack(acl="public-read")
    assert [m for m, _ in violations(validators.encrypted_private_buckets, args)] == [
        "bucket data has a public ACL"
    ]


# --- ECR ----------------------------------------------------------------------------------------

GOOD_REPOSITORY = {
    "imageScanningConfiguration": {"scanOnPush": True},
    "imageTagMutability": "IMMUTABLE",
}


def test_scanned_immutable_repository_passes() -> None:
    args = resource_args(validators.ECR_REPOSITORY_TYPE, GOOD_REPOSITORY)
    assert violations(validators.scanned_immutable_repositories, args) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"imageScanningConfiguration": {"scanOnPush": False}}, "not scanned on push"),
        ({"imageScanningConfiguration": None}, "not scanned on push"),
        ({"imageTagMutability": "MUTABLE"}, "can be overwritten"),
    ],
)
def test_unscanned_or_mutable_repository_is_reported(change: dict[str, Any], expected: str) -> None:
    args = resource_args(validators.ECR_REPOSITORY_TYPE, {**GOOD_REPOSITORY, **change})
    ((message, _),) = violations(validators.scanned_immutable_repositories, args)
    assert expected in message


# --- IAM ----------------------------------------------------------------------------------------


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


SCOPED = {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::b/*"}
ADMIN = {"Sid": "Everything", "Effect": "Allow", "Action": "*", "Resource": "*"}


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        ("aws:iam/policy:Policy", {"policy": document(SCOPED)}),
        ("aws:iam/rolePolicy:RolePolicy", {"policy": document(SCOPED)}),
        ("aws:iam/role:Role", {"inlinePolicies": [{"name": "s3", "policy": document(SCOPED)}]}),
        # Denying everything, or listing reads on every resource, is not an admin grant.
        ("aws:iam/policy:Policy", {"policy": document({**ADMIN, "Effect": "Deny"})}),
        (
            "aws:iam/policy:Policy",
            {"policy": document({"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"})},
        ),
        (
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            {"policyArn": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"},
        ),
    ],
)
def test_scoped_iam_passes(resource_type: str, props: dict[str, Any]) -> None:
    assert violations(validators.no_admin_wildcards, resource_args(resource_type, props)) == []


@pytest.mark.parametrize(
    ("resource_type", "props", "expected"),
    [
        ("aws:iam/policy:Policy", {"policy": document(SCOPED, ADMIN)}, "Everything"),
        ("aws:iam/userPolicy:UserPolicy", {"policy": document({**ADMIN, "Action": "*:*"})}, ""),
        (
            "aws:iam/rolePolicy:RolePolicy",
            {"policy": document({"Effect": "Allow", "NotAction": "iam:*", "Resource": ["*"]})},
            "#0",
        ),
        (
            "aws:iam/role:Role",
            {"inlinePolicies": [{"name": "oops", "policy": document(ADMIN)}]},
            "inlinePolicies[oops]",
        ),
        (
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
            "AdministratorAccess",
        ),
        (
            "aws:iam/role:Role",
            {"managedPolicyArns": ["arn:aws-us-gov:iam::aws:policy/AdministratorAccess"]},
            "AdministratorAccess",
        ),
    ],
)
def test_admin_wildcards_are_reported(
    resource_type: str, props: dict[str, Any], expected: str
) -> None:
    ((message, _),) = violations(validators.no_admin_wildcards, resource_args(resource_type, props))
    assert expected in message
    assert "every action on every resource" in message


# --- GPU pools ----------------------------------------------------------------------------------


def node_group(min_size: int, **props: Any) -> ResourceValidationArgs:
    return resource_args(
        validators.NODE_GROUP_TYPE,
        {"scalingConfig": {"minSize": min_size, "maxSize": 4, "desiredSize": min_size}, **props},
    )


@pytest.mark.parametrize(
    "gpu",
    [
        {"instanceTypes": ["g5.xlarge"]},
        {"amiType": "BOTTLEROCKET_x86_64_NVIDIA", "instanceTypes": ["x9.large"]},
        {"taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]},
    ],
)
def test_gpu_pool_kept_warm_is_reported(gpu: dict[str, Any]) -> None:
    ((message, _),) = violations(validators.gpu_pools_scale_to_zero, node_group(1, **gpu))
    assert "minSize to 0" in message
    assert violations(validators.gpu_pools_scale_to_zero, node_group(0, **gpu)) == []


def test_cpu_pools_may_keep_nodes() -> None:
    args = node_group(2, instanceTypes=["m6i.large"], amiType="AL2023_x86_64_STANDARD")
    assert violations(validators.gpu_pools_scale_to_zero, args) == []


GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}


@pytest.mark.parametrize(
    "gpu",
    [{"instanceTypes": ["g5.xlarge"]}, {"amiType": "AL2023_x86_64_NVIDIA", "instanceTypes": []}],
)
def test_gpu_node_group_without_the_gpu_taint_is_refused(gpu: dict[str, Any]) -> None:
    for taints in (
        [],
        [{**GPU_TAINT, "effect": "PREFER_NO_SCHEDULE"}],
        [{**GPU_TAINT, "key": "gpu"}],
    ):
        ((message, _),) = violations(
            validators.gpu_nodes_tainted, node_group(0, taints=taints, **gpu)
        )
        assert "GPU node group is not tainted" in message
        assert "nvidia.com/gpu=true:NoSchedule" in message
    tainted = node_group(0, taints=[GPU_TAINT], **gpu)
    assert violations(validators.gpu_nodes_tainted, tainted) == []


def test_cpu_node_group_needs_no_gpu_taint() -> None:
    args = node_group(2, instanceTypes=["m6i.large"], amiType="AL2023_x86_64_STANDARD")
    assert violations(validators.gpu_nodes_tainted, args) == []


# --- EKS API endpoint ---------------------------------------------------------------------------


def eks_cluster(**vpc: Any) -> ResourceValidationArgs:
    return resource_args(validators.EKS_CLUSTER_TYPE, {"name": "c", "vpcConfig": vpc})


@pytest.mark.parametrize(
    "vpc",
    [
        {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]},
        {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24", "0.0.0.0/0"]},
        # AWS's defaults: a public endpoint, open to everyone.
        {"endpointPublicAccess": True},
        {},
    ],
)
def test_api_open_to_the_internet_is_reported(vpc: dict[str, Any]) -> None:
    ((message, _),) = violations(validators.public_endpoint_not_open, eks_cluster(**vpc))
    assert "0.0.0.0/0" in message
    assert "cluster.publicAccessCidrs" in message


@pytest.mark.parametrize(
    "vpc",
    [
        {"endpointPrivateAccess": True, "endpointPublicAccess": False},
        {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]},
    ],
)
def test_private_or_narrowed_api_passes(vpc: dict[str, Any]) -> None:
    assert violations(validators.public_endpoint_not_open, eks_cluster(**vpc)) == []


# --- The pack -----------------------------------------------------------------------------------


def test_pack_enforces_all_but_the_gpu_advice() -> None:
    levels = {p.name: p.enforcement_level for p in policies()}
    assert levels == {
        "cost-tags": EnforcementLevel.MANDATORY,
        "encrypted-private-buckets": EnforcementLevel.MANDATORY,
        "ecr-scan-and-immutable-tags": EnforcementLevel.MANDATORY,
        "no-iam-wildcard-admin": EnforcementLevel.MANDATORY,
        "gpu-nodes-tainted": EnforcementLevel.MANDATORY,
        "node-pools-limited": EnforcementLevel.MANDATORY,
        "gpu-pools-scale-to-zero": EnforcementLevel.ADVISORY,
        "eks-public-endpoint-not-open": EnforcementLevel.ADVISORY,
    }
    assert all(key in policies()[0].description for key in COST_TAG_KEYS)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_our_stacks_pass_our_policies(stack: str) -> None:
    plan = stack_plan(stack)
    providers = {
        r["urn"]: PolicyProviderResource(
            r["type"], unknown_checking_proxy(r["inputs"]), r["urn"], r["name"]
        )
        for r in plan["resources"]
        if r["type"].startswith("pulumi:providers:")
    }
    found: list[str] = []
    resources = [r for r in plan["resources"] if not r["type"].startswith("pulumi:")]
    for policy in policies():
        name = policy.name
        if isinstance(policy, ResourceValidationPolicy):
            for r in resources:
                args = resource_args(r["type"], r["inputs"], providers.get(r["provider"] or ""))
                policy.validate(
                    args, lambda m, _urn=None, r=r, n=name: found.append(f"{n} {r['urn']}: {m}")
                )
        else:
            assert isinstance(policy, StackValidationPolicy)
            stack_args = StackValidationArgs(
                [policy_resource(r["type"], r["name"], r["inputs"]) for r in resources]
            )
            policy.validate(stack_args, lambda m, urn=None, n=name: found.append(f"{n} {urn}: {m}"))
    # dev's API is open to 0.0.0.0/0 on purpose (hosted runners), and the advice says so.
    advised = ["eks-public-endpoint-not-open"] if stack == "dev" else []
    assert [f.split(" ", 1)[0] for f in found] == advised, found
    assert len(resources) > 50
