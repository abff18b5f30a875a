"""The field types and checks the sections share, and `Section`, the base of every section."""

from __future__ import annotations

import re
from ipaddress import IPv4Network
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from infra.settings.catalogue import (
    AWS_REGIONS,
    IAM_ROLE_ARN_PATTERN,
    INSTANCE_TYPE_PATTERN,
    LOG_RETENTION_DAYS,
)

_EMAIL = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$"
# A git branch name as GitHub's OIDC `sub` carries it; no wildcards, so trust stays exact.
_BRANCH = r"^[A-Za-z0-9._/-]{1,200}$"
# GitHub environment names, kept to letters, digits and . _ - (no wildcards).
_GITHUB_ENVIRONMENT = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$"

# camelCase keys in the stack file, snake_case in Python, nothing unknown, nothing changed later.
SETTINGS_CONFIG = ConfigDict(
    extra="forbid", frozen=True, populate_by_name=True, alias_generator=to_camel
)


def matches(regex: str, what: str) -> AfterValidator:
    """A string check whose error says what was expected, not which regex failed."""
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


def unique(values: list[Any]) -> list[Any]:
    """The values unchanged, or a ValueError naming the duplicates."""
    duplicates = sorted({str(v) for v in values if values.count(v) > 1})
    if duplicates:
        raise ValueError(f"duplicate entries: {', '.join(duplicates)}")
    return values


def describe(text: str) -> Any:
    """A required setting and what it does (no default: the stack file says it)."""
    return Field(description=text)


def _check_branch(name: str) -> str:
    if name[0] in "/." or name[-1] in "/." or "//" in name or ".." in name:
        raise ValueError(f"{name!r} is not a valid branch name")
    return name


def _check_retention(days: int) -> int:
    if days not in LOG_RETENTION_DAYS:
        raise ValueError(f"must be one of {', '.join(map(str, LOG_RETENTION_DAYS))}")
    return days


def _check_region(region: str) -> str:
    # A well-formed but unknown region (us-east-7) would fail only at `pulumi up`.
    if region not in AWS_REGIONS:
        raise ValueError(f"{region!r} is not an AWS region (known: {', '.join(AWS_REGIONS)})")
    return region


def _check_cidr_size(network: IPv4Network) -> IPv4Network:
    # AWS accepts VPC and subnet blocks between /16 and /28.
    if not 16 <= network.prefixlen <= 28:
        raise ValueError(f"{network} must be between /16 and /28")
    return network


Region = Annotated[str, AfterValidator(_check_region)]
EnvironmentName = Annotated[
    str, matches(r"[a-z]([a-z0-9-]{0,14}[a-z0-9])?", "1-16 lowercase letters, digits, '-'")
]
PoolName = Annotated[
    str, matches(r"[a-z]([a-z0-9-]{0,22}[a-z0-9])?", "1-24 lowercase letters, digits, '-'")
]
InstanceType = Annotated[
    str, matches(INSTANCE_TYPE_PATTERN, "an EC2 instance type (like m6i.large)")
]
IamRoleArn = Annotated[str, matches(IAM_ROLE_ARN_PATTERN, "an IAM role ARN")]
Email = Annotated[str, Field(max_length=254), matches(_EMAIL, "an email address")]
Branch = Annotated[
    str,
    matches(_BRANCH, "an exact branch name (letters, digits, . _ / -; no wildcards)"),
    AfterValidator(_check_branch),
]
GithubEnvironment = Annotated[
    str, matches(_GITHUB_ENVIRONMENT, "a GitHub environment name (no wildcards)")
]
Namespace = Annotated[
    str, matches(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", "a Kubernetes namespace name")
]
Days = Annotated[int, Field(ge=1, le=3650)]
LogRetentionDays = Annotated[int, AfterValidator(_check_retention)]
Cidr = Annotated[IPv4Network, AfterValidator(_check_cidr_size)]


class Section(BaseModel):
    """One block of a stack file: camelCase keys there, snake_case here, nothing unknown.

    Every field has a description: the README's table of settings is generated from them.
    """

    model_config = SETTINGS_CONFIG
