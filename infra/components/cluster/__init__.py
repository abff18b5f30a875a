"""The EKS cluster: control plane, node pools, storage, and the add-ons that make GPU pools scale
from zero. One component per module:

- `cluster`: the Cluster component, from `control_plane` (access entries only, no aws-auth
  ConfigMap; secrets envelope-encrypted with the stack's key; logs with retention; standard
  support only), `iam` (the cluster's and the nodes' roles), `addons` (managed EKS add-ons),
  `access` (access entries) and `volumes` (the EBS CSI driver with IRSA, and an encrypted gp3
  StorageClass that tags its volumes with the cost tags).
- `node_pool`: a managed node group per pool, with a launch template (encrypted gp3 root volume,
  IMDSv2 only, cost tags on instances and volumes); `scheduling` says what its nodes look like.
- `autoscaler` and `device_plugin`: the Cluster Autoscaler (IRSA, scoped to this cluster's node
  groups) and the NVIDIA device plugin, Helm releases with pinned chart versions through a
  Kubernetes provider built from the cluster's outputs.
"""

from infra.components.cluster.access import ADMIN_ACCESS_POLICY, access_policy_arn
from infra.components.cluster.autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
from infra.components.cluster.cluster import Cluster, ClusterArgs
from infra.components.cluster.device_plugin import DevicePluginArgs, NvidiaDevicePlugin
from infra.components.cluster.iam import CLUSTER_POLICIES, NODE_POLICIES
from infra.components.cluster.node_pool import ManagedNodePool, NodePoolArgs, root_device
from infra.components.cluster.scheduling import (
    AUTOSCALER_TEMPLATE,
    autoscaler_template_tags,
    pool_labels,
)
from infra.components.cluster.volumes import EBS_CSI_ADDON, EBS_CSI_POLICY, GP3_STORAGE_CLASS

__all__ = [
    "ADMIN_ACCESS_POLICY",
    "AUTOSCALER_TEMPLATE",
    "CLUSTER_POLICIES",
    "EBS_CSI_ADDON",
    "EBS_CSI_POLICY",
    "GP3_STORAGE_CLASS",
    "NODE_POLICIES",
    "Cluster",
    "ClusterArgs",
    "ClusterAutoscaler",
    "ClusterAutoscalerArgs",
    "DevicePluginArgs",
    "ManagedNodePool",
    "NodePoolArgs",
    "NvidiaDevicePlugin",
    "access_policy_arn",
    "autoscaler_template_tags",
    "pool_labels",
    "root_device",
]
