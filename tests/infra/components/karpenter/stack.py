"""The stack's cluster with Karpenter on it, declared under the shared mocks as the program
declares them, and what the tests read of it."""

from __future__ import annotations

from functools import cache
from typing import Any

import pulumi
import yaml

from infra.components.karpenter import Karpenter, KarpenterArgs
from infra.helpers.tags import cost_labels, cost_tags
from infra.settings import StackSettings
from infra.tools.mocks import Registration
from tests.support.paths import TEST_DATA
from tests.support.pulumi_unit import KEY, Declared, declare, stack_cluster, stack_settings

KARPENTER_DATA = TEST_DATA / "crds" / "karpenter"
RELEASE = "kubernetes:helm.sh/v3:Release"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def build(settings: StackSettings) -> Declared:
    def program(provider, account) -> dict[str, Any]:
        cluster = stack_cluster(settings, provider, account)
        karpenter = Karpenter(
            "karpenter",
            KarpenterArgs(
                settings=settings.cluster,
                naming=settings.naming,
                account=account,
                irsa=cluster.irsa,
                kubernetes=cluster.kubernetes,
                cluster_name=cluster.name,
                cluster_endpoint=cluster.endpoint,
                cluster_security_group_id=cluster.security_group_id,
                key_arn=KEY,
                cost_tags=cost_tags(settings),
                cost_labels=cost_labels(settings),
            ),
            opts=pulumi.ResourceOptions(
                providers=[provider, cluster.kubernetes], depends_on=cluster.ready
            ),
        )
        return {
            "roleArn": karpenter.role_arn,
            "issuer": cluster.oidc_issuer_url,
            "endpoint": cluster.endpoint,
            "securityGroup": cluster.security_group_id,
            "clusterArn": cluster.arn,
        }

    return declare(program, settings)


@cache
def stack(name: str) -> Declared:
    return build(stack_settings(name))


def bottlerocket_settings() -> StackSettings:
    """dev with every GPU pool on Bottlerocket (the NVIDIA device plugin built in)."""
    settings = stack_settings("dev")
    pools = [
        p.model_copy(update={"ami_family": "Bottlerocket"}) for p in settings.cluster.node_pools
    ]
    cluster = settings.cluster.model_copy(update={"node_pools": pools})
    return settings.model_copy(update={"cluster": cluster})


@cache
def bottlerocket() -> Declared:
    return build(bottlerocket_settings())


def release(declared: Declared, name: str) -> Registration:
    return declared.one(RELEASE, name)


def load_yaml(name: str) -> Any:
    return yaml.safe_load((KARPENTER_DATA / name).read_text(encoding="utf-8"))
