"""The Cluster component: control plane, IRSA, the system pool, add-ons, volumes, access entries
and the Kubernetes provider every in-cluster component goes through. GPU nodes come from Karpenter
(infra/components/karpenter), which the stack declares on top of this cluster."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components.cluster.access import ADMIN_ACCESS_POLICY, group_access, policy_access
from infra.components.cluster.addons import EARLY_ADDONS, LATE_ADDONS, managed_addon
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
from infra.settings import ClusterSettings, Naming


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
    """The EKS cluster with its system pool, IRSA and the NVIDIA device plugin for the AL2023
    GPU nodes Karpenter launches."""

    def __init__(
        self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:cluster:Cluster", name, None, renamed(opts, "mlops:infra:Cluster"))
        self.account = args.account
        self.cluster = self._control_plane(name, args)
        self.name: pulumi.Output[str] = self.cluster.name
        self.arn: pulumi.Output[str] = self.cluster.arn
        self.endpoint: pulumi.Output[str] = self.cluster.endpoint
        # The security group EKS creates for the control plane and the nodes to talk through.
        self.security_group_id: pulumi.Output[str] = self.cluster.vpc_config.apply(
            _cluster_security_group
        )
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
        self.system_pool = self._system_pool(args)
        for index, principal in enumerate(args.settings.admin_role_arns):
            self.grant_access(f"admin-{index}", principal, ADMIN_ACCESS_POLICY, namespaces=None)
        self.kubeconfig = cluster_kubeconfig(self.cluster, args.account.region)
        self.kubernetes = kubernetes_provider("k8s", self.kubeconfig, parent=self)
        ready = [self.system_pool.node_group, *self.system_pool.asg_tags]
        # What workloads wait for: nodes to run on, and volumes for those that keep data.
        self.storage = self._storage(args, ready)
        self.ready: list[pulumi.Resource] = [*ready, *self.storage]
        # Bottlerocket's NVIDIA AMIs bring the plugin; AL2023 GPU nodes need its DaemonSet.
        if any(p.ami_family == "AL2023" for p in args.settings.node_pools):
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

    def _system_pool(self, args: ClusterArgs) -> ManagedNodePool:
        """The system pool, between the network add-ons and CoreDNS."""
        role, attachments = node_role(args.naming, args.account, parent=self)
        early = [managed_addon(addon, self.cluster.name, [], parent=self) for addon in EARLY_ADDONS]
        pool = args.settings.system_pool
        system = ManagedNodePool(
            pool.name,
            NodePoolArgs(
                pool=pool,
                cluster=args.naming.cluster,
                cluster_name=self.cluster.name,
                version=self.cluster.version,
                node_role_arn=role.arn,
                subnet_ids=args.node_subnet_ids,
                cost_tags=args.cost_tags,
                cost_labels=args.cost_labels,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*attachments, *early]),
        )
        for addon in LATE_ADDONS:
            managed_addon(addon, self.cluster.name, [system.node_group], parent=self)
        return system

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


def _cluster_security_group(vpc: aws.eks.outputs.ClusterVpcConfig) -> str:
    if not vpc.cluster_security_group_id:
        raise pulumi.RunError("EKS reported no cluster security group for the cluster")
    return vpc.cluster_security_group_id
