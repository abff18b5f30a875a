"""ServingPlatform: what the model service stands on before any model is shipped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from infra.components.serving.access import (
    DEPLOYER_ROLE_REF,
    DEPLOYER_RULES,
    deployer_subjects,
    drift_statements,
    serving_statements,
)
from infra.components.serving.args import ServingAccess, ServingPlatformArgs
from infra.components.serving.names import DEPLOYER_ROLE, PLATFORM_TYPE, drift_service_account
from infra.helpers.iam import irsa_role
from infra.helpers.options import dependencies
from ml.core.identity import load_identity

# What a container started in a deploy namespace without resources of its own gets (a hand-run
# `kubectl run`, a debug pod): the template's own containers all set theirs. No maximum: the
# model's limits are stack settings, and a cap here would refuse pods the settings allow.
CONTAINER_DEFAULTS: k8s.core.v1.LimitRangeItemArgsDict = {
    "type": "Container",
    "default_request": {"cpu": "100m", "memory": "128Mi"},
    "default": {"cpu": "500m", "memory": "512Mi"},
}


class ServingPlatform(pulumi.ComponentResource):
    """What the model service stands on before any model is shipped (the infra role keeps it):
    the deploy namespaces (with containers' default resources), the deploy role's RBAC there,
    and the pods' IAM roles.

    The namespaces wait for this component's `opts.depends_on` (the cluster's nodes).
    """

    access: ServingAccess

    def __init__(
        self,
        name: str,
        args: ServingPlatformArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(PLATFORM_TYPE, name, None, opts)
        labels = load_identity().cost_labels(args.environment)
        after = dependencies(opts)
        self.namespaces: list[pulumi.Resource] = []
        for ns in args.deploy_namespaces:
            self.namespaces += self._deploy_namespace(name, ns, args.deploy_group, labels, after)

        ns = args.settings.namespace
        model_role = irsa_role(
            f"{name}-model",
            args.naming.role("serving"),
            args.irsa,
            ns,
            args.model_name,
            serving_statements(args.artifacts_bucket_arn, args.key_arn, args.region),
            parent=self,
        )
        drift_role = irsa_role(
            f"{name}-drift",
            args.naming.role("drift"),
            args.irsa,
            ns,
            drift_service_account(args.model_name),
            drift_statements(args.artifacts_bucket_arn, args.key_arn, args.region),
            parent=self,
        )
        self.access = ServingAccess(
            bucket=args.artifacts_bucket,
            model_role_arn=model_role.arn,
            drift_role_arn=drift_role.arn,
        )
        self.register_outputs({"modelRoleArn": model_role.arn, "driftRoleArn": drift_role.arn})

    def _deploy_namespace(
        self,
        name: str,
        ns: str,
        group: str,
        labels: Mapping[str, str],
        after: Sequence[pulumi.Input[pulumi.Resource]],
    ) -> list[pulumi.Resource]:
        """One deploy namespace, its LimitRange, and the deploy role's Role and RoleBinding."""
        namespace = k8s.core.v1.Namespace(
            f"{name}-{ns}",
            metadata={
                "name": ns,
                # The pods meet the "restricted" Pod Security Standard; enforce it.
                "labels": {**labels, "pod-security.kubernetes.io/enforce": "restricted"},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(after)),
        )
        metadata: k8s.meta.v1.ObjectMetaArgsDict = {
            "name": DEPLOYER_ROLE,
            "namespace": ns,
            "labels": dict(labels),
        }
        limits = k8s.core.v1.LimitRange(
            f"{name}-{ns}-defaults",
            metadata={"name": "container-defaults", "namespace": ns, "labels": dict(labels)},
            spec={"limits": [CONTAINER_DEFAULTS]},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]),
        )
        role = k8s.rbac.v1.Role(
            f"{name}-{ns}-deployer",
            metadata=metadata,
            rules=DEPLOYER_RULES,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]),
        )
        binding = k8s.rbac.v1.RoleBinding(
            f"{name}-{ns}-deployer",
            metadata=metadata,
            role_ref=DEPLOYER_ROLE_REF,
            subjects=deployer_subjects(group),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role]),
        )
        return [namespace, limits, role, binding]
