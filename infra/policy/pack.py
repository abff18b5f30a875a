"""The policies of the pack, with their enforcement levels (validators/ holds the checks)."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from infra.helpers.labels import GPU_RESOURCE
from infra.policy import validators
from ml.core.identity import COST_TAG_KEYS, load_identity

PACK_NAME = f"{load_identity().project}-guardrails"


def policies() -> list[Policy]:
    mandatory = EnforcementLevel.MANDATORY
    return [
        ResourceValidationPolicy(
            name="cost-tags",
            description=f"Taggable AWS resources carry the cost tags {', '.join(COST_TAG_KEYS)}.",
            validate=validators.require_cost_tags,
            enforcement_level=mandatory,
        ),
        StackValidationPolicy(
            name="encrypted-private-buckets",
            description="S3 buckets have default encryption and block every kind of public access.",
            validate=validators.encrypted_private_buckets,
            enforcement_level=mandatory,
        ),
        ResourceValidationPolicy(
            name="ecr-scan-and-immutable-tags",
            description="ECR repositories scan images on push and keep tags immutable.",
            validate=validators.scanned_immutable_repositories,
            enforcement_level=mandatory,
        ),
        ResourceValidationPolicy(
            name="no-iam-wildcard-admin",
            description="No IAM policy allows every action on every resource.",
            validate=validators.no_admin_wildcards,
            enforcement_level=mandatory,
        ),
        ResourceValidationPolicy(
            name="gpu-nodes-tainted",
            description=(
                f"GPU node groups, and Karpenter NodePools that may launch GPU instances, taint "
                f"their nodes {GPU_RESOURCE}:NoSchedule."
            ),
            validate=validators.gpu_nodes_tainted,
            enforcement_level=mandatory,
        ),
        ResourceValidationPolicy(
            name="node-pools-limited",
            description=(
                f"Karpenter NodePools limit cpu and memory, and {GPU_RESOURCE} when they may "
                "launch GPU instances."
            ),
            validate=validators.node_pools_limited,
            enforcement_level=mandatory,
        ),
        ResourceValidationPolicy(
            name="gpu-pools-scale-to-zero",
            description="GPU node groups have a minimum size of 0.",
            validate=validators.gpu_pools_scale_to_zero,
            enforcement_level=EnforcementLevel.ADVISORY,
        ),
        ResourceValidationPolicy(
            name="eks-public-endpoint-not-open",
            description="An EKS cluster's public API endpoint is not open to 0.0.0.0/0.",
            validate=validators.public_endpoint_not_open,
            enforcement_level=EnforcementLevel.ADVISORY,
        ),
    ]
