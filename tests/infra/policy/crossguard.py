"""CrossGuard's validation arguments built as the engine builds them, for calling validators.

Properties are wrapped in CrossGuard's own unknown-checking proxies, as during a real preview.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy

from ml.core.identity import load_identity

OPTIONS = PolicyResourceOptions(
    protect=False,
    ignore_changes=[],
    delete_before_replace=None,
    aliases=[],
    custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
    additional_secret_outputs=[],
)
# Resource URNs of the dev stack: urn:pulumi:<stack>::<project>::<type>::<name>.
URN_PREFIX = f"urn:pulumi:dev::{load_identity().project}::"

Validator = Callable[[Any, Callable[[str, str | None], None]], None]


def resource_args(
    resource_type: str, props: dict[str, Any], aws: PolicyProviderResource | None = None
) -> ResourceValidationArgs:
    name = "r"
    return ResourceValidationArgs(
        resource_type,
        unknown_checking_proxy(props),
        f"{URN_PREFIX}{resource_type}::{name}",
        name,
        OPTIONS,
        aws,
    )


def violations(validator: Validator, args: Any) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    validator(args, lambda message, urn=None: found.append((message, urn)))
    return found
