"""The runners' IAM role: the DVC remote read and write, the artifacts bucket read, the stack
key through S3, and nothing else; only the runners' service account may assume it."""

from __future__ import annotations

import json
from typing import Any

from infra.components.training.names import RUNNER_SERVICE_ACCOUNT
from tests.infra.components.training.objects import (
    ARTIFACTS,
    DVC,
    ISSUER,
    KEY,
    REGION,
    rendered,
    scale_set_values,
    stack_settings,
)
from tests.support.rendering import plain

ROLE = "aws:iam/role:Role"
POLICY = "aws:iam/rolePolicy:RolePolicy"


def _statements() -> dict[str, dict[str, Any]]:
    (policy,) = rendered().of_type(POLICY)
    return {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def test_the_policy_touches_only_the_two_buckets_and_the_key() -> None:
    statements = _statements()
    resources = {r for s in statements.values() for r in _listed(s["Resource"])}
    assert resources == {DVC, f"{DVC}/*", ARTIFACTS, f"{ARTIFACTS}/*", KEY}
    assert {s["Effect"] for s in statements.values()} == {"Allow"}
    actions = [a for s in statements.values() for a in _listed(s["Action"])]
    assert not [a for a in actions if "*" in a or "Delete" in a]


def test_only_the_dvc_remote_is_written() -> None:
    writes = {
        resource
        for s in _statements().values()
        for action in _listed(s["Action"])
        if action.startswith("s3:Put")
        for resource in _listed(s["Resource"])
    }
    assert writes == {f"{DVC}/*"}
    read = _statements()["ReadData"]
    assert (read["Action"], read["Resource"]) == ("s3:GetObject", [f"{DVC}/*", f"{ARTIFACTS}/*"])


def test_the_key_is_used_through_s3_only() -> None:
    (key,) = [s for s in _statements().values() if s["Resource"] == KEY]
    assert key["Condition"] == {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}}
    assert sorted(key["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]


def test_only_the_runners_service_account_assumes_the_role() -> None:
    declared = rendered()
    (role,) = declared.of_type(ROLE)
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    namespace = stack_settings("dev").training.namespace
    assert trust["Condition"]["StringEquals"] == {
        f"{ISSUER}:aud": "sts.amazonaws.com",
        f"{ISSUER}:sub": [f"system:serviceaccount:{namespace}:{RUNNER_SERVICE_ACCOUNT}"],
    }
    (account,) = declared.of_type("kubernetes:core/v1:ServiceAccount")
    metadata = plain(account.inputs)["metadata"]
    assert (metadata["namespace"], metadata["name"]) == (namespace, RUNNER_SERVICE_ACCOUNT)
    assert metadata["annotations"]["eks.amazonaws.com/role-arn"] == declared.values["role"]
    for values in scale_set_values(declared):
        assert values["template"]["spec"]["serviceAccountName"] == RUNNER_SERVICE_ACCOUNT
