"""Karpenter: GPU nodes started when pods ask for GPUs and removed once idle, instead of managed
node groups resized by the Cluster Autoscaler. The controller runs on the system pool.

- `component`: the Karpenter component: the `karpenter-crd` release first, then the controller's
  (pinned charts, infra/helpers/charts.py), then the EC2NodeClasses and NodePools.
- `iam`: the controller's IRSA role, scoped to this cluster's nodes, queue and node role; the
  nodes' role, instance profile and EKS access entry.
- `interruption`: the SQS queue (the stack's key) EventBridge feeds with spot interruptions,
  rebalance recommendations, instance state changes and scheduled AWS Health events.
- `node_classes`: an EC2NodeClass per AMI family (pinned alias, encrypted gp3, IMDSv2 only, cost
  tags on what it launches).
- `node_pools`: a NodePool per cluster.nodePools entry (requirements, taint, labels, limits,
  disruption).
- `values`: the controller chart's values.
"""

from infra.components.karpenter.component import Karpenter, KarpenterArgs
from infra.components.karpenter.iam import ControllerScope, controller_statements
from infra.components.karpenter.interruption import (
    INTERRUPTION_EVENTS,
    key_statement,
    queue_name,
    rule_name,
)
from infra.components.karpenter.node_classes import (
    NODE_CLASS_API,
    NODE_CLASS_KIND,
    node_class_name,
    node_class_spec,
)
from infra.components.karpenter.node_pools import NODE_POOL_API, NODE_POOL_KIND, node_pool_spec
from infra.components.karpenter.values import SERVICE_ACCOUNT, controller_values

__all__ = [
    "INTERRUPTION_EVENTS",
    "NODE_CLASS_API",
    "NODE_CLASS_KIND",
    "NODE_POOL_API",
    "NODE_POOL_KIND",
    "SERVICE_ACCOUNT",
    "ControllerScope",
    "Karpenter",
    "KarpenterArgs",
    "controller_statements",
    "controller_values",
    "key_statement",
    "node_class_name",
    "node_class_spec",
    "node_pool_spec",
    "queue_name",
    "rule_name",
]
