"""The inline policy of each CI role, composed from the per-service statements in the order
IAM shows them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infra.components.ci_access.statements import (
    autoscaling,
    budgets,
    cost_explorer,
    ec2,
    ecr,
    eks,
    events,
    iam,
    kms,
    logs,
    s3,
    sns,
    sqs,
    state,
)
from infra.helpers.iam import Statement

if TYPE_CHECKING:
    from infra.components.ci_access.component import CiAccessArgs


def read_statements(args: CiAccessArgs) -> list[Statement]:
    """What every CI role reads, and what running the program needs (its lookups)."""
    return [
        *s3.read(args),
        *ecr.read(args),
        *eks.read(args),
        *budgets.read(args),
        *ec2.read(args),
        *state.read(args),
        *iam.read(args),
    ]


def write_statements(args: CiAccessArgs) -> list[Statement]:
    """The model deploy's writes: data and artifacts (with their cost tags), images."""
    return [*s3.write(args), *kms.write(args), *ecr.write(args)]


def infra_statements(args: CiAccessArgs) -> list[Statement]:
    """What the whole `pulumi up` of this stack needs: each service's actions scoped to the
    stack's names, its tags and its region; `*` only where AWS has no resource-level scope."""
    statements = [
        *ec2.manage(args),
        *eks.manage(args),
        *iam.manage(args),
        *kms.manage(args),
        *s3.manage(args),
        *ecr.manage(args),
        *logs.manage(args),
        *budgets.manage(args),
        *sns.manage(args),
        *sqs.manage(args),
        *events.manage(args),
        *autoscaling.manage(args),
        *read_statements(args),
        *cost_explorer.manage(args),
    ]
    return _unique_sids(statements)


def plan_policy(args: CiAccessArgs) -> list[Statement]:
    """The plan role reads, and decrypts what the stack's key encrypted."""
    return [*read_statements(args), *kms.decrypt(args)]


def deploy_policy(args: CiAccessArgs) -> list[Statement]:
    return [*read_statements(args), *write_statements(args), *state.write(args)]


def infra_policy(args: CiAccessArgs) -> list[Statement]:
    return [*infra_statements(args), *state.write(args)]


def _unique_sids(statements: list[Statement]) -> list[Statement]:
    # The infra role also reads what every role reads; IAM rejects repeated Sids.
    seen: set[str] = set()
    unique = []
    for statement in statements:
        if statement["Sid"] not in seen:
            seen.add(statement["Sid"])
            unique.append(statement)
    return unique
