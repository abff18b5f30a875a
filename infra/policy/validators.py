"""The checks behind the policy pack, as plain functions of CrossGuard's validation arguments.

Each takes the `args` CrossGuard passes (`ResourceValidationArgs` or `StackValidationArgs`) and
its `report_violation` callback, so tests call them directly with constructed arguments.
Properties arrive as read-only mappings (CrossGuard's proxies), never as dicts: only the
`Mapping`/`Sequence` interfaces are used here.
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any

from pulumi_policy import (
    PolicyProviderResource,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import UnknownValueError

from infra.tools.cost import is_gpu_pool
from ml.core.identity import COST_TAG_KEYS

BUCKET_TYPES = frozenset({"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"})
ENCRYPTION_TYPES = frozenset(
    {
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
    }
)
PUBLIC_ACCESS_BLOCK_TYPE = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
PUBLIC_ACCESS_FLAGS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)
ENCRYPTION_ALGORITHMS = frozenset({"AES256", "aws:kms", "aws:kms:dsse"})
PUBLIC_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
ECR_REPOSITORY_TYPE = "aws:ecr/repository:Repository"
NODE_GROUP_TYPE = "aws:eks/nodeGroup:NodeGroup"
# Where IAM policy documents live, by resource type: a property holding one document, or
# `inlinePolicies` holding a list of {name, policy}.
POLICY_DOCUMENT_PROPERTY = {
    "aws:iam/policy:Policy": "policy",
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
}
ROLE_TYPE = "aws:iam/role:Role"
POLICY_ATTACHMENT_TYPES = frozenset(
    {
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/userPolicyAttachment:UserPolicyAttachment",
        "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
        "aws:iam/policyAttachment:PolicyAttachment",
    }
)
# AWS's managed policy that allows every action on every resource.
ADMINISTRATOR_POLICY_SUFFIX = ":iam::aws:policy/AdministratorAccess"


def _get(props: Mapping[str, Any], key: str) -> Any:
    """A property, or None when it is absent or not known until the update runs."""
    try:
        return props.get(key)
    except UnknownValueError:
        return None


# --- Cost tags --------------------------------------------------------------------------------


@cache
def is_taggable(resource_type: str) -> bool:
    """Whether an AWS resource type takes `tags`, from the installed pulumi_aws SDK itself."""
    package, _, rest = resource_type.partition(":")
    if package != "aws" or ":" not in rest:
        return False
    module_path, class_name = rest.split(":", 1)
    module_name = module_path.split("/", 1)[0]
    base = "pulumi_aws" if module_name == "index" else f"pulumi_aws.{module_name}"
    # `lambda` and other Python keywords get an underscore in the SDK's module names.
    for name in (base, f"{base}_"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        args_class = getattr(module, f"{class_name}Args", None)
        if args_class is not None:
            return "tags" in inspect.signature(args_class.__init__).parameters
    return False


def _tag_map(value: Any) -> dict[str, str]:
    if isinstance(value, str) and value.startswith("{"):
        value = json.loads(value)
    if isinstance(value, Mapping):
        return {str(k): str(_get(value, k)) for k in value if _get(value, k) is not None}
    if isinstance(value, Sequence) and not isinstance(value, str):
        # Auto Scaling groups spell tags as [{key, value, propagateAtLaunch}].
        return {
            str(_get(t, "key")): str(_get(t, "value"))
            for t in value
            if isinstance(t, Mapping) and _get(t, "key")
        }
    return {}


def effective_tags(
    props: Mapping[str, Any], provider: PolicyProviderResource | None
) -> dict[str, str]:
    """The tags AWS will hold: the provider's default tags, the resource's own, or `tagsAll`."""
    defaults: dict[str, str] = {}
    if provider is not None:
        default_tags = _get(provider.props, "defaultTags")
        if isinstance(default_tags, str) and default_tags.startswith("{"):
            default_tags = json.loads(default_tags)
        if isinstance(default_tags, Mapping):
            defaults = _tag_map(_get(default_tags, "tags"))
    return {
        **defaults,
        **_tag_map(_get(props, "tags")),
        **_tag_map(_get(props, "tagsAll")),
    }


def require_cost_tags(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Every taggable AWS resource carries the identity's cost tags (provider defaults count)."""
    if not is_taggable(args.resource_type):
        return
    tags = effective_tags(args.props, args.provider)
    missing = [key for key in COST_TAG_KEYS if not tags.get(key)]
    if missing:
        report_violation(
            f"missing cost tags {', '.join(missing)}: give the AWS provider default_tags="
            "infra.helpers.tags.cost_tags(...) instead of tagging resources one by one",
            None,
        )


# --- Buckets ----------------------------------------------------------------------------------


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


# --- Container registry ---------------------------------------------------------------------


def scanned_immutable_repositories(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """ECR repositories scan every pushed image and never let a tag move to another image."""
    if args.resource_type != ECR_REPOSITORY_TYPE:
        return
    scanning = _get(args.props, "imageScanningConfiguration") or {}
    if _get(scanning, "scanOnPush") is not True:
        report_violation("images are not scanned on push: set image_scanning_configuration", None)
    if _get(args.props, "imageTagMutability") != "IMMUTABLE":
        report_violation("image tags can be overwritten: set image_tag_mutability=IMMUTABLE", None)


# --- IAM ----------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        return [value]
    return list(value)


def wildcard_statements(document: Any) -> list[str]:
    """Sids (or positions) of statements allowing every action, or all but some, on `*`."""
    if isinstance(document, str):
        document = json.loads(document)
    if not isinstance(document, Mapping):
        return []
    found = []
    for index, statement in enumerate(_as_list(_get(document, "Statement"))):
        if not isinstance(statement, Mapping) or _get(statement, "Effect") != "Allow":
            continue
        on_everything = "*" in _as_list(_get(statement, "Resource"))
        every_action = bool({"*", "*:*"} & set(_as_list(_get(statement, "Action"))))
        # Allow + NotAction on `*` grants everything except the few actions listed.
        all_but = _get(statement, "NotAction") is not None
        if on_everything and (every_action or all_but):
            found.append(str(_get(statement, "Sid") or f"#{index}"))
    return found


def _documents(args: ResourceValidationArgs) -> list[tuple[str, Any]]:
    if args.resource_type in POLICY_DOCUMENT_PROPERTY:
        key = POLICY_DOCUMENT_PROPERTY[args.resource_type]
        return [(key, _get(args.props, key))]
    if args.resource_type == ROLE_TYPE:
        return [
            (f"inlinePolicies[{_get(p, 'name')}]", _get(p, "policy"))
            for p in _as_list(_get(args.props, "inlinePolicies"))
            if isinstance(p, Mapping)
        ]
    return []


def no_admin_wildcards(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """No IAM policy allows `*` (or everything but a few actions) on `*`."""
    for where, document in _documents(args):
        statements = wildcard_statements(document)
        if statements:
            report_violation(
                f"{where} allows every action on every resource (statement "
                f"{', '.join(statements)}): list the actions and the ARNs this stack needs",
                None,
            )
    arns = []
    if args.resource_type in POLICY_ATTACHMENT_TYPES:
        arns = [_get(args.props, "policyArn")]
    elif args.resource_type == ROLE_TYPE:
        arns = _as_list(_get(args.props, "managedPolicyArns"))
    if any(str(arn).endswith(ADMINISTRATOR_POLICY_SUFFIX) for arn in arns):
        report_violation("AdministratorAccess allows every action on every resource", None)


# --- GPU pools ----------------------------------------------------------------------------------


def gpu_pools_scale_to_zero(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """GPU node groups may shrink to no node, so an idle stack pays nothing for GPUs."""
    if args.resource_type != NODE_GROUP_TYPE or not is_gpu_pool(args.props):
        return
    scaling = _get(args.props, "scalingConfig") or {}
    minimum = _get(scaling, "minSize")
    if minimum not in (None, 0):
        report_violation(
            f"GPU node group keeps {minimum:g} node(s) running when idle: set minSize to 0 and "
            "let the cluster autoscaler add nodes when GPU pods wait",
            None,
        )
