"""What the platform gives the pods and the deploy role."""

from __future__ import annotations

import json
from typing import Any

from infra.components.ci_access import DEPLOY_GROUP
from tests.infra.components.serving.objects import (
    BUCKET,
    ISSUER,
)


def _statements(platform: dict, purpose: str) -> dict[str, dict[str, Any]]:
    """The statements of the platform's inline policy `serving-platform-<purpose>`."""
    (policy,) = [
        p
        for p in platform["aws:iam/rolePolicy:RolePolicy"]
        if p["__name"] == f"serving-platform-{purpose}"
    ]
    return {s["Sid"]: s for s in json.loads(policy["policy"])["Statement"]}


def _trust_subjects(platform: dict) -> list[str]:
    return [
        subject
        for role in platform["aws:iam/role:Role"]
        for statement in json.loads(role["assumeRolePolicy"])["Statement"]
        for subject in statement["Condition"]["StringEquals"][f"{ISSUER}:sub"]
    ]


def test_pods_roles_trust_exactly_their_service_accounts(platform: dict, cpu: dict) -> None:
    accounts = {
        f"system:serviceaccount:serving:{key.split('/', 1)[1]}"
        for key in cpu
        if key.startswith("ServiceAccount/")
    }
    assert sorted(_trust_subjects(platform)) == sorted(accounts)


def test_model_pods_only_write_logs_and_the_job_only_reads(platform: dict) -> None:
    bucket = f"arn:aws:s3:::{BUCKET}"
    model = _statements(platform, "model")
    assert model["WritePredictionLogs"]["Action"] == "s3:PutObject"
    assert model["WritePredictionLogs"]["Resource"] == f"{bucket}/predictions/*"
    drift = _statements(platform, "drift")
    assert drift["ReadLogsAndReferences"]["Action"] == "s3:GetObject"
    assert drift["ReadLogsAndReferences"]["Resource"] == [
        f"{bucket}/predictions/*",
        f"{bucket}/reference/*",
    ]
    assert drift["ListLogsAndReferences"]["Condition"] == {
        "StringLike": {"s3:prefix": ["predictions/*", "reference/*"]}
    }
    for granted in (model, drift):
        key = granted["StackKeyThroughS3"]
        assert key["Condition"] == {
            "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
        }
        actions = [a for s in granted.values() for a in _listed(s["Action"])]
        assert not [a for a in actions if "Delete" in a or a.endswith("*")]


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def _plural(kind: str) -> str:
    return kind.lower()[:-1] + "ies" if kind.endswith("y") else kind.lower() + "s"


def test_the_deploy_role_may_change_exactly_what_model_serving_declares(
    platform: dict, cpu: dict
) -> None:
    (role,) = platform["kubernetes:rbac.authorization.k8s.io/v1:Role"]
    writable = {
        (group, resource)
        for rule in role["rules"]
        if "create" in rule["verbs"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    declared = {
        (obj["apiVersion"].rpartition("/")[0], _plural(obj["kind"]))
        for key, obj in cpu.items()
        if key not in {"Release", "ModelServing", "RolloutsController"}
    }
    assert declared == writable
    (binding,) = platform["kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"]
    assert binding["subjects"] == [
        {"kind": "Group", "name": DEPLOY_GROUP, "apiGroup": "rbac.authorization.k8s.io"}
    ]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    (namespace,) = platform["kubernetes:core/v1:Namespace"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
