"""What a fork chooses (name, team, cost center, region, repository) and the rules each must meet.

Standard library only: copier runs the rename before any virtualenv exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from ml.core.aws_regions import AWS_REGIONS


class InitError(Exception):
    """The rename cannot start; the message says which input or which file is wrong."""


@dataclass(frozen=True)
class ProjectIdentity:
    """What a fork chooses: `make init` arguments and copier answers, field for field."""

    name: str
    team: str
    cost_center: str
    region: str
    repository: str


# Field -> (command-line option, copier question, params.yaml identity key).
FIELD_NAMES = {
    "name": ("--name", "project_name", "project"),
    "team": ("--team", "team", "team"),
    "cost_center": ("--cost-center", "cost_center", "cost-center"),
    "region": ("--region", "aws_region", None),
    "repository": ("--github-repo", "github_repo", "repository"),
}

# The same rules as ml/core/identity.py (which needs pydantic, absent when copier runs this);
# tests/ml/forking/test_values.py checks that both accept and reject the same values.
_DNS_NAME = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
NAME_MIN, NAME_MAX = 3, 32
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
# GitHub: an owner has up to 39 alphanumerics and single inner hyphens; a repository name up
# to 100 of [A-Za-z0-9._-].
_GITHUB_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
_GITHUB_REPO = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
# S3 reserves these bucket-name prefixes; every bucket name starts with the project name.
_RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")

# infra/settings/naming.py's Naming.too_long(), restated because infra/ needs pulumi and
# pydantic, which bare python3 lacks; tests/ml/forking/test_values.py holds the two equal.
BUCKET_PURPOSES = ("dvc", "artifacts", "access-logs")
ROLE_PURPOSES = (
    "cluster",
    "node",
    "karpenter",
    "karpenter-node",
    "training-runner",
    "ci-plan",
    "ci-deploy",
)
ACCOUNT_ID_LENGTH = 12
AUTONAME_SUFFIX_LENGTH = 8


def too_long(project: str, environment: str) -> list[str]:
    """Names a stack of `environment` derives that would break an AWS length limit."""
    prefix = f"{project}-{environment}"
    account = "0" * ACCOUNT_ID_LENGTH
    limits = [(f"{prefix}-{p}-{account}", 63, "S3 bucket names allow") for p in BUCKET_PURPOSES]
    limits += [
        (f"{prefix}-{p}", 64 - AUTONAME_SUFFIX_LENGTH, "IAM role names (before the suffix) allow")
        for p in ROLE_PURPOSES
    ]
    return [
        f"{name!r} has {len(name)} characters, {what} {limit}"
        for name, limit, what in limits
        if len(name) > limit
    ]


def name_problem(name: str) -> str | None:
    if not _DNS_NAME.match(name) or "--" in name:
        return (
            f"{name!r} is not DNS-safe: use lowercase letters, digits and single hyphens, "
            "starting with a letter and ending with a letter or digit"
        )
    if not NAME_MIN <= len(name) <= NAME_MAX:
        return f"{name!r} has {len(name)} characters; use {NAME_MIN} to {NAME_MAX}"
    if name.startswith(_RESERVED_BUCKET_PREFIXES):
        return f"{name!r} starts with a prefix S3 reserves ({', '.join(_RESERVED_BUCKET_PREFIXES)})"
    return None


def label_problem(value: str) -> str | None:
    if not _LABEL_VALUE.match(value):
        return (
            f"{value!r} is not a valid Kubernetes label value: at most 63 letters, digits, "
            "'-', '_' or '.', starting and ending with a letter or digit"
        )
    return None


def region_problem(region: str) -> str | None:
    if region not in AWS_REGIONS:
        return f"{region!r} is not an AWS commercial region (for example us-east-1, eu-west-1)"
    return None


def repository_problem(repository: str) -> str | None:
    owner, slash, repo = repository.partition("/")
    if not slash or not _GITHUB_OWNER.match(owner):
        return (
            f"{repository!r} is not owner/repo: the owner has 1 to 39 letters, digits and "
            "single inner hyphens"
        )
    if not _GITHUB_REPO.match(repo) or repo in {".", ".."} or repo.endswith(".git"):
        return (
            f"{repository!r} is not owner/repo: the repository name has 1 to 100 letters, "
            "digits, '.', '-' or '_' (and no .git suffix)"
        )
    return None


_CHECKS = {
    "name": name_problem,
    "team": label_problem,
    "cost_center": label_problem,
    "region": region_problem,
    "repository": repository_problem,
}


def problems(identity: ProjectIdentity) -> list[str]:
    """Every invalid field, each message starting with the option that carries it."""
    found = []
    for field in fields(identity):
        value = getattr(identity, field.name)
        option = FIELD_NAMES[field.name][0]
        problem = "is required" if not value else _CHECKS[field.name](value)
        if problem:
            found.append(f"{option}: {problem}")
    return found
