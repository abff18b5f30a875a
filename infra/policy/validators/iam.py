"""No IAM policy allows every action on every resource."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
)

from infra.policy.validators.properties import get as _get
from infra.policy.validators.resource_types import (
    ADMINISTRATOR_POLICY_SUFFIX,
    POLICY_ATTACHMENT_TYPES,
    POLICY_DOCUMENT_PROPERTY,
    ROLE_TYPE,
)


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
