"""The EKS cluster: control plane, the always-on system pool, storage, and the NVIDIA device plugin
for the GPU nodes Karpenter (infra/components/karpenter) launches. One component per module:

- `cluster`: the Cluster component, from `control_plane` (access entries only, no aws-auth
  ConfigMap; secrets envelope-encrypted with the stack's key; logs with retention; standard
  support only), `iam` (the cluster's and the nodes' roles), `addons` (managed EKS add-ons),
  `access` (access entries) and `volumes` (the EBS CSI driver with IRSA, and an encrypted gp3
  StorageClass that tags its volumes with the cost tags).
- `node_pool`: the system pool's managed node group, with a launch template (encrypted gp3 root
  volume, IMDSv2 only, cost tags on instances and volumes); `scheduling` says what the nodes of
  every pool, managed or Karpenter's, are labelled.
- `device_plugin`: the NVIDIA device plugin, a Helm release with a pinned chart version through a
  Kubernetes provider built from the cluster's outputs, on AL2023 GPU nodes only.
"""

from infra.components.cluster.access import ADMIN_ACCESS_POLICY, access_policy_arn
from infra.components.cluster.addons import SYSTEM_NAMESPACE
from infra.components.cluster.cluster import Cluster, ClusterArgs
from infra.components.cluster.device_plugin import (
    DevicePluginArgs,
    NvidiaDevicePlugin,
    device_plugin_values,
)
from infra.components.cluster.iam import CLUSTER_POLICIES, NODE_POLICIES
from infra.components.cluster.node_pool import ManagedNodePool, NodePoolArgs, root_device
from infra.components.cluster.scheduling import device_plugin_mode, pool_labels
from infra.components.cluster.volumes import EBS_CSI_ADDON, EBS_CSI_POLICY, GP3_STORAGE_CLASS

__all__ = [
    "ADMIN_ACCESS_POLICY",
    "CLUSTER_POLICIES",
    "EBS_CSI_ADDON",
    "EBS_CSI_POLICY",
    "GP3_STORAGE_CLASS",
    "NODE_POLICIES",
    "SYSTEM_NAMESPACE",
    "Cluster",
    "ClusterArgs",
    "DevicePluginArgs",
    "ManagedNodePool",
    "NodePoolArgs",
    "NvidiaDevicePlugin",
    "access_policy_arn",
    "device_plugin_mode",
    "device_plugin_values",
    "pool_labels",
    "root_device",
]
