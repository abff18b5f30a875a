"""Cluster Autoscaler: a pinned Helm release whose IRSA role may resize only this cluster's
node groups."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.components.cluster.addons import SYSTEM_NAMESPACE
from infra.helpers.charts import AUTOSCALER_CHART_REPO
from infra.helpers.iam import Irsa, Statement, role_with_policy
from infra.helpers.labels import NODE_POOL_LABEL
from infra.helpers.options import dependencies, renamed
from infra.helpers.providers import AwsAccount
from infra.settings import Naming

# EKS tags a managed node group's Auto Scaling group with these; the role may resize only those.
AUTOSCALER_OWNER_TAG = "k8s.io/cluster-autoscaler/{cluster}"
AUTOSCALER_ENABLED_TAG = "k8s.io/cluster-autoscaler/enabled"
AUTOSCALER_SERVICE_ACCOUNT = "cluster-autoscaler"


@dataclass(frozen=True)
class ClusterAutoscalerArgs:
    naming: Naming
    account: AwsAccount
    # The cluster's OIDC issuer, its name (an Output, for ordering) and its Kubernetes provider.
    irsa: Irsa
    cluster_name: pulumi.Input[str]
    kubernetes: k8s.Provider
    chart_version: str
    system_pool: str
    cost_labels: Mapping[str, str]


class ClusterAutoscaler(pulumi.ComponentResource):
    """Cluster Autoscaler with an IRSA role that may only resize this cluster's node groups.

    The release waits for `opts.depends_on` (the system nodes it runs on).
    """

    def __init__(
        self, name: str, args: ClusterAutoscalerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        after = dependencies(opts)
        opts = renamed(opts, "mlops:infra:ClusterAutoscaler")
        super().__init__("mlops:cluster:ClusterAutoscaler", name, None, opts)
        self.role, role_policy = role_with_policy(
            name,
            args.naming.role("cluster-autoscaler"),
            args.irsa.trust(SYSTEM_NAMESPACE, AUTOSCALER_SERVICE_ACCOUNT),
            autoscaler_statements(args.account, args.naming.cluster),
            parent=self,
        )
        self.release = k8s.helm.v3.Release(
            name,
            name=name,
            chart="cluster-autoscaler",
            version=args.chart_version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=AUTOSCALER_CHART_REPO),
            namespace=SYSTEM_NAMESPACE,
            values=autoscaler_values(args, self.role.arn),
            opts=pulumi.ResourceOptions(
                parent=self, provider=args.kubernetes, depends_on=[role_policy, *after]
            ),
        )
        self.register_outputs({"roleArn": self.role.arn})


def autoscaler_statements(account: AwsAccount, cluster: str) -> list[Statement]:
    """Describe what it must see; resize only the groups EKS made for `cluster`."""
    owner_tag = AUTOSCALER_OWNER_TAG.format(cluster=cluster)
    return [
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
            "Resource": account.arn("eks", f"nodegroup/{cluster}/*/*"),
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
    ]


def autoscaler_values(args: ClusterAutoscalerArgs, role_arn: pulumi.Input[str]) -> dict[str, Any]:
    """The chart's values: auto-discovery of this cluster's groups, on the system nodes,
    unprivileged."""
    return {
        "cloudProvider": "aws",
        "awsRegion": args.account.region,
        "autoDiscovery": {"clusterName": args.cluster_name},
        "rbac": {
            "serviceAccount": {
                "create": True,
                "name": AUTOSCALER_SERVICE_ACCOUNT,
                "annotations": {"eks.amazonaws.com/role-arn": role_arn},
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
    }
