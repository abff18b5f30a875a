"""S3 buckets are encrypted and block every kind of public access."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    StackValidationArgs,
)

from infra.policy.validators.properties import get as _get
from infra.policy.validators.resource_types import (
    BUCKET_TYPES,
    ENCRYPTION_ALGORITHMS,
    ENCRYPTION_TYPES,
    PUBLIC_ACCESS_BLOCK_TYPE,
    PUBLIC_ACCESS_FLAGS,
    PUBLIC_ACLS,
)


def _targets(resource: PolicyResource, bucket: PolicyResource) -> bool:
    """Whether a bucket-level configuration resource applies to `bucket`."""
    if any(dep.urn == bucket.urn for dep in resource.property_dependencies.get("bucket", [])):
        return True
    target = _get(resource.props, "bucket")
    return target is not None and target in {_get(bucket.props, "bucket"), _get(bucket.props, "id")}


def _encryption_rules(configuration: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    rules = _get(configuration, "rules") or _get(configuration, "rule") or []
    return [rules] if isinstance(rules, Mapping) else rules


def _encrypted(configuration: Mapping[str, Any]) -> bool:
    for rule in _encryption_rules(configuration):
        default = _get(rule, "applyServerSideEncryptionByDefault") or {}
        if _get(default, "sseAlgorithm") in ENCRYPTION_ALGORITHMS:
            return True
    return False


def encrypted_private_buckets(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Every bucket has default encryption and a public access block with all four switches on."""
    resources = args.resources
    for bucket in (r for r in resources if r.resource_type in BUCKET_TYPES):
        encryption = [
            r for r in resources if r.resource_type in ENCRYPTION_TYPES and _targets(r, bucket)
        ]
        inline = _get(bucket.props, "serverSideEncryptionConfiguration")
        if not any(_encrypted(c.props) for c in encryption) and not (
            isinstance(inline, Mapping) and _encrypted(inline)
        ):
            report_violation(
                f"bucket {bucket.name} has no default encryption (AES256 or aws:kms): add a "
                "BucketServerSideEncryptionConfiguration",
                bucket.urn,
            )
        blocks = [
            r
            for r in resources
            if r.resource_type == PUBLIC_ACCESS_BLOCK_TYPE and _targets(r, bucket)
        ]
        if not any(all(_get(b.props, f) is True for f in PUBLIC_ACCESS_FLAGS) for b in blocks):
            report_violation(
                f"bucket {bucket.name} may become public: add a BucketPublicAccessBlock with "
                f"{', '.join(PUBLIC_ACCESS_FLAGS)} all true",
                bucket.urn,
            )
        if _get(bucket.props, "acl") in PUBLIC_ACLS:
            report_violation(f"bucket {bucket.name} has a public ACL", bucket.urn)
