"""The EKS cluster: control plane, node pools, storage, and the add-ons that make GPU pools scale
from zero.

- Control plane: access entries (no aws-auth ConfigMap), secrets envelope-encrypted with the
  stack's key, control-plane logs in a log group with retention, standard support only.
- Node pools: a small system pool and GPU pools from config, each a managed node group with a
  launch template (encrypted gp3 root volume, IMDSv2 only, cost tags on instances and volumes).
- Cluster Autoscaler (IRSA, scoped to this cluster's node groups) and the NVIDIA device plugin,
  both Helm releases with pinned chart versions, through a Kubernetes provider built from the
  cluster's outputs.
- The EBS CSI driver (managed add-on, IRSA) and an encrypted gp3 StorageClass that tags its
  volumes with the cost tags: persistent volumes (Prometheus) need both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.helpers.charts import AUTOSCALER_CHART_REPO, NVIDIA_DEVICE_PLUGIN
from infra.helpers.iam import (
    Irsa,
    attach_managed_policies,
    document,
    service_trust,
    web_identity_trust,
)
from infra.helpers.labels import (
    ACCELERATOR_LABEL,
    DEVICE_PLUGIN_LABEL,
    GPU_RESOURCE,
    NODE_POOL_LABEL,
    WORKLOAD_LABEL,
)
from infra.helpers.providers import AwsAccount, kubeconfig, kubernetes_provider
from infra.helpers.tags import launch_template_tag_specifications, tag_autoscaling_group
from infra.settings import (
    ClusterSettings,
    GpuPool,
    Naming,
    NodePool,
)

GPU_TAINT = aws.eks.NodeGroupTaintArgs(key=GPU_RESOURCE, value="true", effect="NO_SCHEDULE")

# Tags the cluster autoscaler reads to build a node from an empty (size 0) group.
AUTOSCALER_TEMPLATE = "k8s.io/cluster-autoscaler/node-template"
AUTOSCALER_OWNER_TAG = "k8s.io/cluster-autoscaler/{cluster}"
AUTOSCALER_ENABLED_TAG = "k8s.io/cluster-autoscaler/enabled"
AUTOSCALER_SERVICE_ACCOUNT = "cluster-autoscaler"
SYSTEM_NAMESPACE = "kube-system"

CLUSTER_POLICIES = ("AmazonEKSClusterPolicy",)
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryPullOnly",
    # Shell access through Session Manager instead of SSH keys and open ports.
    "AmazonSSMManagedInstanceCore",
)
# Managed add-ons EKS keeps patched; versions default to the cluster version's recommended one.
EARLY_ADDONS = ("vpc-cni", "kube-proxy")
# CoreDNS only turns healthy once nodes run it, so it waits for the system pool.
LATE_ADDONS = ("coredns",)
ADMIN_ACCESS_POLICY = "AmazonEKSClusterAdminPolicy"
# Persistent volumes: the EBS CSI driver add-on and the StorageClass workloads ask for by name.
EBS_CSI_ADDON = "aws-ebs-csi-driver"
EBS_CSI_SERVICE_ACCOUNT = "ebs-csi-controller-sa"
EBS_CSI_POLICY = "service-role/AmazonEBSCSIDriverPolicy"
GP3_STORAGE_CLASS = "gp3"


def access_policy_arn(partition: pulumi.Input[str], name: str) -> pulumi.Output[str]:
    return pulumi.Output.concat("arn:", partition, ":eks::aws:cluster-access-policy/", name)


def root_device(ami_type: str) -> str:
    # Bottlerocket boots from a small OS volume (xvda); containers and images live on xvdb.
    return "/dev/xvdb" if ami_type.startswith("BOTTLEROCKET") else "/dev/xvda"


def pool_labels(pool: NodePool, cost_labels: Mapping[str, str]) -> dict[str, str]:
    """Kubernetes labels of a pool's nodes: cost labels, pool name, workload, accelerator."""
    labels = {**cost_labels, NODE_POOL_LABEL: pool.name}
    if isinstance(pool, GpuPool):
        plugin = "builtin" if pool.ami_type.startswith("BOTTLEROCKET") else "daemonset"
        labels |= {
            WORKLOAD_LABEL: pool.workload_type,
            ACCELERATOR_LABEL: "nvidia",
            DEVICE_PLUGIN_LABEL: plugin,
        }
    else:
        labels[WORKLOAD_LABEL] = "system"
    return labels


def autoscaler_template_tags(pool: NodePool, labels: Mapping[str, str]) -> dict[str, str]:
    """ASG tags that describe a pool's nodes to the cluster autoscaler while the pool is empty."""
    tags = {f"{AUTOSCALER_TEMPLATE}/label/{k}": v for k, v in labels.items()}
    tags[f"{AUTOSCALER_TEMPLATE}/label/eks.amazonaws.com/capacityType"] = pool.capacity_type
    if isinstance(pool, GpuPool):
        tags[f"{AUTOSCALER_TEMPLATE}/taint/{GPU_RESOURCE}"] = "true:NoSchedule"
        tags[f"{AUTOSCALER_TEMPLATE}/resources/{GPU_RESOURCE}"] = str(pool.gpus_per_node)
    return tags


@dataclass(frozen=True)
class NodePoolArgs:
    pool: NodePool
    # The physical cluster name (for names and tags) and its Output (for ordering).
    cluster: str
    cluster_name: pulumi.Input[str]
    version: pulumi.Input[str]
    node_role_arn: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    cost_tags: Mapping[str, str]
    cost_labels: Mapping[str, str]
    depends_on: Sequence[pulumi.Resource]


class ManagedNodePool(pulumi.ComponentResource):
    """A managed node group, its launch template and the tags on its Auto Scaling group."""

    def __init__(
        self, name: str, args: NodePoolArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:infra:NodePool", name, None, opts)
        pool = args.pool
        child = pulumi.ResourceOptions(parent=self)
        gpu = isinstance(pool, GpuPool)
        labels = pool_labels(pool, args.cost_labels)
        self.launch_template = aws.ec2.LaunchTemplate(
            name,
            description=f"Nodes of the {pool.name} pool",
            update_default_version=True,
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name=root_device(pool.ami_type),
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=pool.disk_size_gib,
                        volume_type="gp3",
                        # The account's aws/ebs key: a customer key would first need a grant
                        # for the Auto Scaling service-linked role, or launches fail.
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                # One hop: pods (which use IRSA) can't reach the node role's credentials.
                http_put_response_hop_limit=1,
            ),
            tag_specifications=launch_template_tag_specifications(
                {**args.cost_tags, "Name": f"{args.cluster}-{pool.name}"}
            ),
            opts=child,
        )
        self.node_group = aws.eks.NodeGroup(
            name,
            cluster_name=args.cluster_name,
            version=args.version,
            node_role_arn=args.node_role_arn,
            subnet_ids=list(args.subnet_ids),
            ami_type=pool.ami_type,
            capacity_type=pool.capacity_type,
            instance_types=list(pool.instance_types),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=pool.min_size, max_size=pool.max_size, desired_size=pool.desired_size
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            labels=labels,
            taints=[GPU_TAINT] if gpu else [],
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=self.launch_template.id,
                version=self.launch_template.latest_version.apply(str),
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=list(args.depends_on),
                # The cluster autoscaler owns the size between min and max from here on.
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )
        group_name = self.node_group.resources.apply(_autoscaling_group_name)
        self.asg_tags = tag_autoscaling_group(
            name,
            group_name,
            {**args.cost_tags, **autoscaler_template_tags(pool, labels)},
            parent=self,
        )
        self.register_outputs({"nodeGroup": self.node_group.node_group_name})


def _autoscaling_group_name(resources: Sequence[aws.eks.outputs.NodeGroupResource]) -> str:
    """The Auto Scaling group EKS made for a managed node group (there is exactly one)."""
    for resource in resources:
        for group in resource.autoscaling_groups or []:
            if group.name:
                return group.name
    raise pulumi.RunError("EKS reported no Auto Scaling group for a managed node group")


def _oidc_issuer(identities: Sequence[aws.eks.outputs.ClusterIdentity]) -> str:
    for identity in identities:
        for oidc in identity.oidcs or []:
            if oidc.issuer:
                return oidc.issuer
    raise pulumi.RunError("EKS reported no OIDC issuer for the cluster")


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
        super().__init__("mlops:infra:Cluster", name, None, opts)
        settings, naming, account = args.settings, args.naming, args.account
        self.account = account
        child = pulumi.ResourceOptions(parent=self)

        cluster_role = aws.iam.Role(
            naming.role("cluster"),
            assume_role_policy=service_trust("eks.amazonaws.com"),
            opts=child,
        )
        attachments = attach_managed_policies(
            "cluster", cluster_role, account.partition, CLUSTER_POLICIES, parent=self
        )
        # Envelope encryption of Kubernetes secrets with the stack's key.
        key_use = aws.iam.RolePolicy(
            "cluster-secrets-key",
            role=cluster_role.name,
            policy=document(
                {
                    "Effect": "Allow",
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"],
                    "Resource": args.key_arn,
                }
            ),
            opts=child,
        )
        log_group = aws.cloudwatch.LogGroup(
            "control-plane",
            name=naming.cluster_log_group,
            retention_in_days=settings.log_retention_days,
            kms_key_id=args.key_arn,
            opts=child,
        )
        self.cluster = aws.eks.Cluster(
            name,
            name=naming.cluster,
            version=settings.version,
            role_arn=cluster_role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=list(args.control_plane_subnet_ids),
                endpoint_private_access=True,
                endpoint_public_access=True,
                public_access_cidrs=[str(c) for c in settings.public_access_cidrs],
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                # Whoever runs `pulumi up` administers the cluster (the Kubernetes provider
                # below needs it); more admins come from cluster.adminRoleArns.
                bootstrap_cluster_creator_admin_permissions=True,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=args.key_arn),
                resources=["secrets"],
            ),
            enabled_cluster_log_types=list(settings.log_types),
            # STANDARD: past its support window the cluster must be upgraded, rather than
            # silently billed for extended support (six times the hourly control-plane fee).
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),
            deletion_protection=settings.deletion_protection,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*attachments, key_use, log_group]),
        )
        self.name: pulumi.Output[str] = self.cluster.name
        self.arn: pulumi.Output[str] = self.cluster.arn
        self.oidc_issuer_url: pulumi.Output[str] = self.cluster.identities.apply(_oidc_issuer)
        self.oidc_issuer_host = self.oidc_issuer_url.apply(lambda u: u.removeprefix("https://"))
        # IRSA: pods' service accounts assume IAM roles through the cluster's OIDC issuer.
        self.oidc_provider = aws.iam.OpenIdConnectProvider(
            "irsa", url=self.oidc_issuer_url, client_id_lists=["sts.amazonaws.com"], opts=child
        )
        self.oidc_provider_arn: pulumi.Output[str] = self.oidc_provider.arn
        self.irsa = Irsa(self.oidc_provider_arn, self.oidc_issuer_host)

        node_role = aws.iam.Role(
            naming.role("node"),
            assume_role_policy=service_trust("ec2.amazonaws.com"),
            opts=child,
        )
        node_attachments = attach_managed_policies(
            "node", node_role, account.partition, NODE_POLICIES, parent=self
        )
        early = [self._addon(addon, []) for addon in EARLY_ADDONS]

        def pool(p: NodePool) -> ManagedNodePool:
            return ManagedNodePool(
                p.name,
                NodePoolArgs(
                    pool=p,
                    cluster=naming.cluster,
                    cluster_name=self.cluster.name,
                    version=self.cluster.version,
                    node_role_arn=node_role.arn,
                    subnet_ids=args.node_subnet_ids,
                    cost_tags=args.cost_tags,
                    cost_labels=args.cost_labels,
                    depends_on=[*node_attachments, *early],
                ),
                opts=child,
            )

        self.system_pool = pool(settings.system_pool)
        self.gpu_pools = [pool(p) for p in settings.gpu_pools]
        for addon in LATE_ADDONS:
            self._addon(addon, [self.system_pool.node_group])

        for index, principal in enumerate(settings.admin_role_arns):
            self.grant_access(f"admin-{index}", principal, ADMIN_ACCESS_POLICY, namespaces=None)

        self.kubeconfig = pulumi.Output.secret(
            kubeconfig(
                self.cluster.name,
                self.cluster.endpoint,
                self.cluster.certificate_authority.apply(lambda ca: ca.data or ""),
                account.region,
            )
        )
        self.kubernetes = kubernetes_provider("k8s", self.kubeconfig, parent=self)
        ready = [self.system_pool.node_group, *self.system_pool.asg_tags]
        # What workloads wait for: nodes to run on, and volumes for those that keep data.
        self.storage = self._storage(naming, args.cost_tags, args.cost_labels, ready)
        self.ready: list[pulumi.Resource] = [*ready, *self.storage]

        self.autoscaler = ClusterAutoscaler(
            "cluster-autoscaler",
            ClusterAutoscalerArgs(
                cluster=self,
                naming=naming,
                chart_version=settings.autoscaler_chart_version,
                account=account,
                system_pool=settings.system_pool.name,
                cost_labels=args.cost_labels,
                depends_on=ready,
            ),
            opts=child,
        )
        if any(p.ami_type == "AL2023_x86_64_NVIDIA" for p in settings.gpu_pools):
            NvidiaDevicePlugin(
                "nvidia-device-plugin",
                DevicePluginArgs(kubernetes=self.kubernetes, depends_on=ready),
                opts=child,
            )
        self.register_outputs(
            {"name": self.name, "arn": self.arn, "oidcProviderArn": self.oidc_provider_arn}
        )

    def _storage(
        self,
        naming: Naming,
        cost_tags: Mapping[str, str],
        cost_labels: Mapping[str, str],
        after: Sequence[pulumi.Resource],
    ) -> list[pulumi.Resource]:
        """The EBS CSI driver and the gp3 StorageClass (volumes encrypted and cost-tagged)."""
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            naming.role("ebs-csi"),
            assume_role_policy=self.irsa.trust(SYSTEM_NAMESPACE, EBS_CSI_SERVICE_ACCOUNT),
            opts=child,
        )
        attached = attach_managed_policies(
            "ebs-csi", role, self.account.partition, (EBS_CSI_POLICY,), parent=self
        )
        driver = aws.eks.Addon(
            EBS_CSI_ADDON,
            cluster_name=self.cluster.name,
            addon_name=EBS_CSI_ADDON,
            service_account_role_arn=role.arn,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            # Its controller runs on the system nodes.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*attached, *after]),
        )
        # The driver tags every volume it creates, so their spend is attributed like the rest.
        tags = {
            f"tagSpecification_{i}": f"{k}={v}" for i, (k, v) in enumerate(cost_tags.items(), 1)
        }
        storage_class = k8s.storage.v1.StorageClass(
            GP3_STORAGE_CLASS,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=GP3_STORAGE_CLASS, labels=dict(cost_labels)),
            provisioner="ebs.csi.aws.com",
            parameters={"type": "gp3", "encrypted": "true", "fsType": "ext4", **tags},
            # Bind where the pod lands: a volume lives in one zone.
            volume_binding_mode="WaitForFirstConsumer",
            reclaim_policy="Delete",
            allow_volume_expansion=True,
            opts=pulumi.ResourceOptions(parent=self, provider=self.kubernetes, depends_on=[driver]),
        )
        return [driver, storage_class]

    def grant_groups(
        self, name: str, principal_arn: pulumi.Input[str], groups: Sequence[str]
    ) -> aws.eks.AccessEntry:
        """Let an IAM principal in as members of Kubernetes groups; RBAC bindings say what
        those groups may do (the EKS access policies cover no custom resources)."""
        return aws.eks.AccessEntry(
            name,
            cluster_name=self.cluster.name,
            principal_arn=principal_arn,
            type="STANDARD",
            kubernetes_groups=list(groups),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _addon(self, addon: str, after: Sequence[pulumi.Resource]) -> aws.eks.Addon:
        return aws.eks.Addon(
            addon,
            cluster_name=self.cluster.name,
            addon_name=addon,
            # EKS installed its own copy at cluster creation; take it over.
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(after)),
        )

    def grant_access(
        self,
        name: str,
        principal_arn: pulumi.Input[str],
        policy: str,
        *,
        namespaces: Sequence[str] | None,
    ) -> aws.eks.AccessPolicyAssociation:
        """Let an IAM principal in with an EKS access policy, cluster-wide or in namespaces."""
        entry = aws.eks.AccessEntry(
            name,
            cluster_name=self.cluster.name,
            principal_arn=principal_arn,
            type="STANDARD",
            opts=pulumi.ResourceOptions(parent=self),
        )
        scope = (
            aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster")
            if namespaces is None
            else aws.eks.AccessPolicyAssociationAccessScopeArgs(
                type="namespace", namespaces=list(namespaces)
            )
        )
        return aws.eks.AccessPolicyAssociation(
            name,
            cluster_name=self.cluster.name,
            principal_arn=entry.principal_arn,
            policy_arn=access_policy_arn(self.account.partition, policy),
            access_scope=scope,
            opts=pulumi.ResourceOptions(parent=self),
        )


@dataclass(frozen=True)
class ClusterAutoscalerArgs:
    cluster: Cluster
    naming: Naming
    chart_version: str
    account: AwsAccount
    system_pool: str
    cost_labels: Mapping[str, str]
    depends_on: Sequence[pulumi.Resource]


class ClusterAutoscaler(pulumi.ComponentResource):
    """Cluster Autoscaler with an IRSA role that may only resize this cluster's node groups."""

    def __init__(
        self, name: str, args: ClusterAutoscalerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:infra:ClusterAutoscaler", name, None, opts)
        cluster, account, cluster_name = args.cluster, args.account, args.naming.cluster
        child = pulumi.ResourceOptions(parent=self)
        self.role = aws.iam.Role(
            args.naming.role("cluster-autoscaler"),
            assume_role_policy=web_identity_trust(
                cluster.oidc_provider_arn,
                cluster.oidc_issuer_host,
                [f"system:serviceaccount:{SYSTEM_NAMESPACE}:{AUTOSCALER_SERVICE_ACCOUNT}"],
            ),
            opts=child,
        )
        owner_tag = AUTOSCALER_OWNER_TAG.format(cluster=cluster_name)
        policy = document(
            {
                # Describe calls support no resource-level permissions: AWS requires "*".
                "Sid": "DescribeScalingInputs",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeScalingActivities",
                    "autoscaling:DescribeTags",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:GetInstanceTypesFromInstanceRequirements",
                ],
                "Resource": "*",
            },
            {
                "Sid": "DescribeOwnNodeGroups",
                "Effect": "Allow",
                "Action": "eks:DescribeNodegroup",
                "Resource": account.arn("eks", f"nodegroup/{cluster_name}/*/*"),
            },
            {
                # Only groups EKS tagged as owned by this cluster, and enabled for scaling.
                "Sid": "ResizeOwnNodeGroups",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:SetDesiredCapacity",
                    "autoscaling:TerminateInstanceInAutoScalingGroup",
                ],
                "Resource": account.arn("autoscaling", "autoScalingGroup:*:autoScalingGroupName/*"),
                "Condition": {
                    "StringEquals": {
                        f"autoscaling:ResourceTag/{owner_tag}": "owned",
                        f"autoscaling:ResourceTag/{AUTOSCALER_ENABLED_TAG}": "true",
                    }
                },
            },
        )
        role_policy = aws.iam.RolePolicy(name, role=self.role.name, policy=policy, opts=child)
        self.release = k8s.helm.v3.Release(
            name,
            name=name,
            chart="cluster-autoscaler",
            version=args.chart_version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=AUTOSCALER_CHART_REPO),
            namespace=SYSTEM_NAMESPACE,
            values={
                "cloudProvider": "aws",
                "awsRegion": account.region,
                "autoDiscovery": {"clusterName": cluster.name},
                "rbac": {
                    "serviceAccount": {
                        "create": True,
                        "name": AUTOSCALER_SERVICE_ACCOUNT,
                        "annotations": {"eks.amazonaws.com/role-arn": self.role.arn},
                    }
                },
                "extraArgs": {
                    "balance-similar-node-groups": True,
                    "skip-nodes-with-system-pods": False,
                    "expander": "least-waste",
                },
                "nodeSelector": {NODE_POOL_LABEL: args.system_pool},
                "podLabels": dict(args.cost_labels),
                "additionalLabels": dict(args.cost_labels),
                "resources": {
                    "requests": {"cpu": "100m", "memory": "300Mi"},
                    "limits": {"memory": "600Mi"},
                },
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 65534,
                    "runAsGroup": 65534,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containerSecurityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=cluster.kubernetes,
                depends_on=[role_policy, *args.depends_on],
            ),
        )
        self.register_outputs({"roleArn": self.role.arn})


@dataclass(frozen=True)
class DevicePluginArgs:
    kubernetes: k8s.Provider
    depends_on: Sequence[pulumi.Resource]


class NvidiaDevicePlugin(pulumi.ComponentResource):
    """The NVIDIA device plugin DaemonSet, on AL2023 GPU nodes only (tolerating their taint)."""

    def __init__(
        self, name: str, args: DevicePluginArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:infra:NvidiaDevicePlugin", name, None, opts)
        # Replaces the chart's default affinity, which expects labels from Node Feature Discovery.
        on_gpu_nodes = [
            {"key": ACCELERATOR_LABEL, "operator": "In", "values": ["nvidia"]},
            {"key": DEVICE_PLUGIN_LABEL, "operator": "In", "values": ["daemonset"]},
        ]
        self.release = k8s.helm.v3.Release(
            name,
            name=name,
            chart=NVIDIA_DEVICE_PLUGIN.name,
            version=NVIDIA_DEVICE_PLUGIN.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=NVIDIA_DEVICE_PLUGIN.repo),
            namespace=SYSTEM_NAMESPACE,
            values={
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [{"matchExpressions": on_gpu_nodes}]
                        }
                    }
                },
                "tolerations": [
                    {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"},
                    {"key": "CriticalAddonsOnly", "operator": "Exists"},
                ],
                "priorityClassName": "system-node-critical",
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                },
            },
            opts=pulumi.ResourceOptions(
                parent=self, provider=args.kubernetes, depends_on=list(args.depends_on)
            ),
        )
        self.register_outputs({})
