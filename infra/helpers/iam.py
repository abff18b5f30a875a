"""IAM policy documents as JSON built from Outputs, and the roles that carry them: shared by
every component that grants access.

Documents are plain dicts (what AWS reads), so tests inspect exactly what `pulumi up` sends.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

Statement = dict[str, Any]
STS_AUDIENCE = "sts.amazonaws.com"


def document(*statements: Statement) -> pulumi.Output[str]:
    """A policy document whose statements may hold Outputs (ARNs of this stack's resources)."""
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


def deny_without_tls(sid: str, action: str, resource: Any) -> Statement:
    """Refuse `action` on `resource` to every request not made over TLS, whoever sends it."""
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": "*",
        "Action": action,
        "Resource": resource,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def service_trust(service: str) -> pulumi.Output[str]:
    """Trust policy letting an AWS service (`eks.amazonaws.com`) assume a role."""
    return document(
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    )


def web_identity_trust(
    provider_arn: pulumi.Input[str],
    issuer_host: pulumi.Input[str],
    subjects: Sequence[str],
    *,
    subject_operator: str = "StringEquals",
) -> pulumi.Output[str]:
    """Trust policy for an OIDC identity: the audience is STS and the subject one of `subjects`.

    The condition keys embed the issuer host (`oidc.eks...:sub`), so the document is built once
    the host is known.
    """

    def build(values: list[str]) -> str:
        arn, host = values
        conditions: dict[str, dict[str, Any]] = {"StringEquals": {f"{host}:aud": STS_AUDIENCE}}
        conditions.setdefault(subject_operator, {})[f"{host}:sub"] = list(subjects)
        statement = {
            "Effect": "Allow",
            "Principal": {"Federated": arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": conditions,
        }
        return json.dumps({"Version": "2012-10-17", "Statement": [statement]})

    return pulumi.Output.all(provider_arn, issuer_host).apply(build)


def managed_policy_arn(partition: pulumi.Input[str], name: str) -> pulumi.Output[str]:
    return pulumi.Output.concat("arn:", partition, ":iam::aws:policy/", name)


def attach_managed_policies(
    name: str,
    role: aws.iam.Role,
    partition: pulumi.Input[str],
    policies: Sequence[str],
    *,
    parent: pulumi.Resource,
) -> list[aws.iam.RolePolicyAttachment]:
    """Attach AWS-managed policies by name (`AmazonEKSClusterPolicy`, or with their path:
    `service-role/AmazonEBSCSIDriverPolicy`) to `role`."""
    return [
        aws.iam.RolePolicyAttachment(
            f"{name}-{policy.rsplit('/', 1)[-1]}",
            role=role.name,
            policy_arn=managed_policy_arn(partition, policy),
            opts=pulumi.ResourceOptions(parent=parent),
        )
        for policy in policies
    ]


def role_with_managed_policies(
    name: str,
    role_name: str,
    trust: pulumi.Input[str],
    partition: pulumi.Input[str],
    policies: Sequence[str],
    *,
    parent: pulumi.Resource,
) -> tuple[aws.iam.Role, list[aws.iam.RolePolicyAttachment]]:
    """An IAM role (logical name `role_name`) assumed under `trust`, with AWS-managed policies
    attached (logical names `<name>-<policy>`)."""
    role = aws.iam.Role(
        role_name, assume_role_policy=trust, opts=pulumi.ResourceOptions(parent=parent)
    )
    return role, attach_managed_policies(name, role, partition, policies, parent=parent)


@dataclass(frozen=True)
class Irsa:
    """The cluster's OIDC issuer, through which pods' service accounts assume IAM roles."""

    provider_arn: pulumi.Input[str]
    issuer_host: pulumi.Input[str]

    def trust(self, namespace: str, service_account: str) -> pulumi.Output[str]:
        """Only this one service account may assume the role (exact `sub`, STS audience)."""
        subject = f"system:serviceaccount:{namespace}:{service_account}"
        return web_identity_trust(self.provider_arn, self.issuer_host, [subject])


def role_with_policy(
    name: str,
    role_name: str,
    trust: pulumi.Input[str],
    statements: Sequence[Statement],
    *,
    parent: pulumi.Resource,
    description: str | None = None,
    max_session_duration: int | None = None,
) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
    """An IAM role (logical name `role_name`) assumed under `trust`, and its inline policy
    (logical name `name`) granting `statements`."""
    role = aws.iam.Role(
        role_name,
        description=description,
        assume_role_policy=trust,
        max_session_duration=max_session_duration,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    policy = aws.iam.RolePolicy(
        name,
        role=role.name,
        policy=document(*statements),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return role, policy


def irsa_role(
    name: str,
    role_name: str,
    irsa: Irsa,
    namespace: str,
    service_account: str,
    statements: Sequence[Statement],
    *,
    parent: pulumi.Resource,
) -> aws.iam.Role:
    """An IAM role for one Kubernetes service account, with its inline policy."""
    role, _ = role_with_policy(
        name,
        role_name,
        irsa.trust(namespace, service_account),
        statements,
        parent=parent,
        description=f"Pods of {namespace}/{service_account}",
    )
    return role
