"""Kubernetes label keys and resource names the components share (nodes, pods, scrapes)."""

from __future__ import annotations

# Node labels every pool carries besides the cost labels; GPU model pods select them.
NODE_POOL_LABEL = "node-pool"
WORKLOAD_LABEL = "workload-type"
ACCELERATOR_LABEL = "accelerator"
# AL2023 NVIDIA nodes need the device plugin DaemonSet; Bottlerocket's NVIDIA AMIs ship it built in.
DEVICE_PLUGIN_LABEL = "nvidia-device-plugin"
GPU_RESOURCE = "nvidia.com/gpu"

# Workload labels of the model's pods, which the ServiceMonitors and dashboards key on.
NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"
MODEL_NAME_LABEL = "model-name"
MODEL_VERSION_LABEL = "model-version"
# Argo Rollouts labels each ReplicaSet's pods with this; the ServiceMonitor copies it onto every
# series so the analysis can look at the canary's pods alone.
POD_HASH_LABEL = "rollouts-pod-template-hash"
