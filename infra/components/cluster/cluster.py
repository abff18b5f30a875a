"""The Cluster component: control plane, IRSA, node pools, add-ons, volumes, access entries and
the Kubernetes provider every in-cluster component goes through."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components.cluster.access import ADMIN_ACCESS_POLICY, group_access, policy_access
from infra.components.cluster.addons import EARLY_ADDONS, LATE_ADDONS, managed_addon
from infra.components.cluster.autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
from infra.components.cluster.control_plane import (
    cluster_kubeconfig,
    control_plane,
    control_plane_logs,
    oidc_issuer,
)
from infra.components.cluster.device_plugin import DevicePluginArgs, NvidiaDevicePlugin
from infra.components.cluster.iam import cluster_role, node_role
from infra.components.cluster.node_pool import ManagedNodePool, NodePoolArgs
from infra.components.cluster.volumes import ebs_csi_driver, gp3_storage_class
from infra.helpers.iam import STS_AUDIENCE, Irsa
from infra.helpers.options import renamed
from infra.helpers.providers import AwsAccount, kubernetes_provider
from infra.settings import ClusterSettings, Naming, NodePool


@dataclass(frozen=True)
class ClusterArgs:
    settings: ClusterSettings
    naming: Naming
    account: AwsAccount
    key_arn: pulumi.Input[str]
    control_plane_subnet_ids: Sequence[pulumi.Input[str]]
    node_subnet_ids: Sequence[pulumi.Input[str]]
    cost_tags: Mapping[str, str]
    cost_labels: Mapping[str, str]


class Cluster(pulumi.ComponentResource):
    """The EKS cluster with its node pools, IRSA, autoscaler and GPU device plugin."""

    def __init__(
        self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:cluster:Cluster", name, None, renamed(opts, "mlops:infra:Cluster"))
        self.account = args.account
        self.cluster = self._control_plane(name, args)
        self.name: pulumi.Output[str] = self.cluster.name
        self.arn: pulumi.Output[str] = self.cluster.arn
        self.oidc_issuer_url: pulumi.Output[str] = self.cluster.identities.apply(oidc_issuer)
        self.oidc_issuer_host = self.oidc_issuer_url.apply(lambda u: u.removeprefix("https://"))
        # IRSA: pods' service accounts assume IAM roles through the cluster's OIDC issuer.
        self.oidc_provider = aws.iam.OpenIdConnectProvider(
            "irsa",
            url=self.oidc_issuer_url,
            client_id_lists=[STS_AUDIENCE],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.oidc_provider_arn: pulumi.Output[str] = self.oidc_provider.arn
        self.irsa = Irsa(self.oidc_provider_arn, self.oidc_issuer_host)
        self.system_pool, self.gpu_pools = self._node_pools(args)
        for index, principal in enumerate(args.settings.admin_role_arns):
            self.grant_access(f"admin-{index}", principal, ADMIN_ACCESS_POLICY, namespaces=None)
        self.kubeconfig = cluster_kubeconfig(self.cluster, args.account.region)
        self.kubernetes = kubernetes_provider("k8s", self.kubeconfig, parent=self)
        ready = [self.system_pool.node_group, *self.system_pool.asg_tags]
        # What workloads wait for: nodes to run on, and volumes for those that keep data.
        self.storage = self._storage(args, ready)
        self.ready: list[pulumi.Resource] = [*ready, *self.storage]
        self.autoscaler = self._autoscaler(args, ready)
        if any(p.ami_type == "AL2023_x86_64_NVIDIA" for p in args.settings.gpu_pools):
            NvidiaDevicePlugin(
                "nvidia-device-plugin",
                DevicePluginArgs(kubernetes=self.kubernetes),
                opts=pulumi.ResourceOptions(parent=self, depends_on=ready),
            )
        self.register_outputs(
            {"name": self.name, "arn": self.arn, "oidcProviderArn": self.oidc_provider_arn}
        )

    def _control_plane(self, name: str, args: ClusterArgs) -> aws.eks.Cluster:
        """The control plane, once its role may act and its log group exists."""
        role, grants = cluster_role(args.naming, args.account, args.key_arn, parent=self)
        logs = control_plane_logs(args.naming, args.settings, args.key_arn, parent=self)
        return control_plane(
            name,
            args.naming,
            args.settings,
            role_arn=role.arn,
            key_arn=args.key_arn,
            subnet_ids=args.control_plane_subnet_ids,
            after=[*grants, logs],
            parent=self,
        )

    def _node_pools(self, args: ClusterArgs) -> tuple[ManagedNodePool, list[ManagedNodePool]]:
        """The system pool and the GPU pools, between the network add-ons and CoreDNS."""
        role, attachments = node_role(args.naming, args.account, parent=self)
        early = [managed_addon(addon, self.cluster.name, [], parent=self) for addon in EARLY_ADDONS]
        after = pulumi.ResourceOptions(parent=self, depends_on=[*attachments, *early])

        def pool(p: NodePool) -> ManagedNodePool:
            return ManagedNodePool(
                p.name,
                NodePoolArgs(
                    pool=p,
                    cluster=args.naming.cluster,
                    cluster_name=self.cluster.name,
                    version=self.cluster.version,
                    node_role_arn=role.arn,
                    subnet_ids=args.node_subnet_ids,
                    cost_tags=args.cost_tags,
                    cost_labels=args.cost_labels,
                ),
                opts=after,
            )

        system = pool(args.settings.system_pool)
        gpus = [pool(p) for p in args.settings.gpu_pools]
        for addon in LATE_ADDONS:
            managed_addon(addon, self.cluster.name, [system.node_group], parent=self)
        return system, gpus

    def _storage(
        self, args: ClusterArgs, after: Sequence[pulumi.Resource]
    ) -> list[pulumi.Resource]:
        """The EBS CSI driver and the gp3 StorageClass (volumes encrypted and cost-tagged)."""
        driver = ebs_csi_driver(
            args.naming, self.irsa, self.cluster.name, self.account.partition, after, parent=self
        )
        storage_class = gp3_storage_class(
            args.cost_tags, args.cost_labels, driver, self.kubernetes, parent=self
        )
        return [driver, storage_class]

    def _autoscaler(self, args: ClusterArgs, after: Sequence[pulumi.Resource]) -> ClusterAutoscaler:
        return ClusterAutoscaler(
            "cluster-autoscaler",
            ClusterAutoscalerArgs(
                naming=args.naming,
                account=args.account,
                irsa=self.irsa,
                cluster_name=self.cluster.name,
                kubernetes=self.kubernetes,
                chart_version=args.settings.autoscaler_chart_version,
                system_pool=args.settings.system_pool.name,
                cost_labels=args.cost_labels,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(after)),
        )

    def grant_groups(
        self, name: str, principal_arn: pulumi.Input[str], groups: Sequence[str]
    ) -> aws.eks.AccessEntry:
        """Let an IAM principal in as members of Kubernetes groups; RBAC bindings say what
        those groups may do (the EKS access policies cover no custom resources)."""
        return group_access(name, self.cluster.name, principal_arn, groups, parent=self)

    def grant_access(
        self,
        name: str,
        principal_arn: pulumi.Input[str],
        policy: str,
        *,
        namespaces: Sequence[str] | None,
    ) -> aws.eks.AccessPolicyAssociation:
        """Let an IAM principal in with an EKS access policy, cluster-wide or in namespaces."""
        return policy_access(
            name,
            self.cluster.name,
            self.account.partition,
            principal_arn,
            policy,
            namespaces=namespaces,
            parent=self,
        )
