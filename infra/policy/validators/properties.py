"""Reading CrossGuard's property proxies: values not known until the update are None."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy.proxy import UnknownValueError


def get(props: Mapping[str, Any], key: str) -> Any:
    """A property, or None when it is absent or not known until the update runs."""
    try:
        return props.get(key)
    except UnknownValueError:
        return None
