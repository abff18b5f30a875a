"""The Karpenter component: the controller (two pinned Helm releases, CRDs first) with its IAM and
interruption queue, and the EC2NodeClasses and NodePools of the stack's GPU capacity.

Custom resources declared in the same `pulumi up` as the chart that brings their CRDs fail on a
new cluster (the API server does not know the kinds yet; pulumi-kubernetes issues #3188, #3176).
So the CRDs come from the `karpenter-crd` chart, released first on its own (pulumi-kubernetes
4.32+ reads a Release's CRDs at preview); the controller's release skips them and waits for it;
every EC2NodeClass and NodePool waits for both (and, on `pulumi destroy`, goes before the
controller, whose finalizers remove their nodes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.components.cluster import SYSTEM_NAMESPACE
from infra.components.karpenter.iam import ControllerScope, controller_statements, node_identity
from infra.components.karpenter.interruption import interruption_queue
from infra.components.karpenter.node_classes import declare_node_classes
from infra.components.karpenter.node_pools import declare_node_pools
from infra.components.karpenter.values import (
    SERVICE_ACCOUNT,
    ControllerSettings,
    controller_values,
)
from infra.components.network import KARPENTER_DISCOVERY_TAG
from infra.helpers.charts import KARPENTER, KARPENTER_CRD
from infra.helpers.iam import Irsa, role_with_policy
from infra.helpers.options import dependencies
from infra.helpers.providers import AwsAccount
from infra.settings import ClusterSettings, Naming


@dataclass(frozen=True)
class KarpenterArgs:
    """The cluster Karpenter serves (from the Cluster component) and the stack's GPU settings."""

    settings: ClusterSettings
    naming: Naming
    account: AwsAccount
    irsa: Irsa
    kubernetes: k8s.Provider
    # The cluster's name, endpoint and the security group EKS made for it (Outputs: ordering).
    cluster_name: pulumi.Input[str]
    cluster_endpoint: pulumi.Input[str]
    cluster_security_group_id: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    cost_tags: Mapping[str, str]
    cost_labels: Mapping[str, str]


class Karpenter(pulumi.ComponentResource):
    """Karpenter on the system pool, and the GPU NodePools it scales from zero.

    The releases wait for `opts.depends_on` (the system nodes the controller runs on).
    """

    def __init__(
        self, name: str, args: KarpenterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        after = dependencies(opts)
        super().__init__("mlops:karpenter:Karpenter", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.interruptions = interruption_queue(args.naming, args.key_arn, parent=self)
        self.nodes = node_identity(args.naming, args.account, args.cluster_name, parent=self)
        scope = ControllerScope(
            account=args.account,
            cluster=args.naming.cluster,
            node_role_arn=self.nodes.role.arn,
            instance_profile_arn=self.nodes.instance_profile.arn,
            queue_arn=self.interruptions.queue.arn,
            key_arn=args.key_arn,
        )
        self.role, role_policy = role_with_policy(
            "karpenter-controller",
            args.naming.role("karpenter"),
            args.irsa.trust(SYSTEM_NAMESPACE, SERVICE_ACCOUNT),
            controller_statements(scope),
            parent=self,
            description="The Karpenter controller",
        )
        # The nodes join through the security group EKS made; Karpenter finds it by this tag.
        discovery = aws.ec2.Tag(
            "cluster-security-group-discovery",
            resource_id=args.cluster_security_group_id,
            key=KARPENTER_DISCOVERY_TAG,
            value=args.cluster_name,
            opts=child,
        )
        self.crds, self.controller = self._releases(args, role_policy, after)
        ready = [self.crds, self.controller, self.nodes.access_entry, discovery]
        self.node_classes = declare_node_classes(
            args.settings.karpenter,
            cluster=args.naming.cluster,
            instance_profile=self.nodes.instance_profile.name,
            cost_tags=args.cost_tags,
            cost_labels=args.cost_labels,
            kubernetes=args.kubernetes,
            after=ready,
            parent=self,
        )
        self.node_pools = declare_node_pools(
            args.settings.node_pools,
            cost_labels=args.cost_labels,
            kubernetes=args.kubernetes,
            after=[*ready, *self.node_classes.values()],
            parent=self,
        )
        self.role_arn: pulumi.Output[str] = self.role.arn
        self.register_outputs(
            {"roleArn": self.role_arn, "interruptionQueue": self.interruptions.queue.name}
        )

    def _releases(
        self, args: KarpenterArgs, role_policy: aws.iam.RolePolicy, after: list[pulumi.Resource]
    ) -> tuple[k8s.helm.v3.Release, k8s.helm.v3.Release]:
        """The CRDs' release, then the controller's (without the CRDs it also carries)."""
        crds = KARPENTER_CRD.release(
            "karpenter-crd",
            SYSTEM_NAMESPACE,
            {},
            pulumi.ResourceOptions(parent=self, provider=args.kubernetes, depends_on=after),
        )
        values = controller_values(
            ControllerSettings(
                cluster_name=args.cluster_name,
                cluster_endpoint=args.cluster_endpoint,
                interruption_queue=self.interruptions.queue.name,
                role_arn=self.role.arn,
                system_pool=args.settings.system_pool,
                cost_labels=args.cost_labels,
            )
        )
        controller = KARPENTER.release(
            "karpenter",
            SYSTEM_NAMESPACE,
            values,
            pulumi.ResourceOptions(
                parent=self,
                provider=args.kubernetes,
                depends_on=[crds, role_policy, *self.interruptions.ready, *after],
            ),
            skip_crds=True,
        )
        return crds, controller
