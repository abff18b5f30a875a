"""Every taggable AWS resource carries the cost tags."""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from pulumi_policy import (
    PolicyProviderResource,
    ReportViolation,
    ResourceValidationArgs,
)

from infra.policy.validators.properties import get as _get
from ml.core.identity import COST_TAG_KEYS


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
