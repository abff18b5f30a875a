"""Which pricing rule bills which resource type, and which types cost nothing themselves.

A type with no rule is reported under `not_priced`; one that is also not declared free below
(nor a component, which only groups resources) is reported under `not_modelled` too, so a new
billable type does not slip into the estimate at $0 unnoticed.
"""

from __future__ import annotations

from infra.tools.cost.context import Pricer
from infra.tools.cost.pricing_compute import price_cluster, price_instance, price_node_group
from infra.tools.cost.pricing_karpenter import price_node_pool
from infra.tools.cost.pricing_network import (
    price_interface_endpoint,
    price_load_balancer,
    price_nat_gateway,
    price_public_ip,
    price_service,
)
from infra.tools.cost.pricing_services import (
    price_key,
    price_log_group,
    price_queue,
    price_secret,
)
from infra.tools.cost.pricing_storage import (
    price_bucket,
    price_repository,
    price_volume,
    price_volume_claims,
)

PRICERS: dict[str, Pricer] = {
    "aws:eks/cluster:Cluster": price_cluster,
    "aws:eks/nodeGroup:NodeGroup": price_node_group,
    "kubernetes:karpenter.sh/v1:NodePool": price_node_pool,
    "aws:ec2/instance:Instance": price_instance,
    "aws:ebs/volume:Volume": price_volume,
    "aws:ec2/natGateway:NatGateway": price_nat_gateway,
    "aws:ec2/eip:Eip": price_public_ip,
    "aws:ec2/vpcEndpoint:VpcEndpoint": price_interface_endpoint,
    "aws:lb/loadBalancer:LoadBalancer": price_load_balancer,
    "aws:alb/loadBalancer:LoadBalancer": price_load_balancer,
    "aws:s3/bucket:Bucket": price_bucket,
    "aws:s3/bucketV2:BucketV2": price_bucket,
    "aws:kms/key:Key": price_key,
    "aws:cloudwatch/logGroup:LogGroup": price_log_group,
    "aws:ecr/repository:Repository": price_repository,
    "aws:secretsmanager/secret:Secret": price_secret,
    "aws:sqs/queue:Queue": price_queue,
    "kubernetes:core/v1:Service": price_service,
    "kubernetes:helm.sh/v3:Release": price_volume_claims,
    "kubernetes:core/v1:PersistentVolumeClaim": price_volume_claims,
}

# Types AWS bills nothing for, or whose cost is billed elsewhere in the estimate.
FREE_TYPES = frozenset(
    {
        # Identity and access: IAM, EKS access entries and pod identities, OIDC providers.
        "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/policy:Policy",
        "aws:iam/instanceProfile:InstanceProfile",
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
        "aws:eks/accessEntry:AccessEntry",
        "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
        "aws:eks/podIdentityAssociation:PodIdentityAssociation",
        # EKS add-ons run on the (priced) nodes; launch templates and ASG tags configure them.
        "aws:eks/addon:Addon",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:autoscaling/tag:Tag",
        "aws:ec2/tag:Tag",
        # The VPC's plumbing; its billable parts (NAT, addresses, endpoints) have rules.
        "aws:ec2/vpc:Vpc",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        "aws:ec2/flowLog:FlowLog",  # billed as the log group it writes to
        # Settings of priced buckets, keys and registries.
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "aws:s3/bucketLogging:BucketLogging",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketVersioning:BucketVersioning",
        "aws:kms/alias:Alias",
        "aws:ecr/lifecyclePolicy:LifecyclePolicy",
        "aws:ecr/repositoryPolicy:RepositoryPolicy",
        "aws:secretsmanager/secretVersion:SecretVersion",
        "aws:sqs/queuePolicy:QueuePolicy",
        # EventBridge rules on AWS service events (Spot interruptions, ...) and their targets:
        # AWS service events on the default bus are free.
        "aws:cloudwatch/eventRule:EventRule",
        "aws:cloudwatch/eventTarget:EventTarget",
        # Budgets without actions, cost allocation tags; SNS alerts stay in its free tier
        # (1,000 e-mails and 1M requests a month).
        "aws:budgets/budget:Budget",
        "aws:costexplorer/costAllocationTag:CostAllocationTag",
        "aws:sns/topic:Topic",
        "aws:sns/topicPolicy:TopicPolicy",
        "aws:sns/topicSubscription:TopicSubscription",
        # Kubernetes objects: their pods run on the priced nodes. The EC2NodeClass is priced
        # through the NodePools that use it.
        "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass",
        "kubernetes:core/v1:Namespace",
        "kubernetes:core/v1:ServiceAccount",
        "kubernetes:core/v1:ConfigMap",
        "kubernetes:core/v1:Secret",
        "kubernetes:core/v1:LimitRange",
        "kubernetes:core/v1:ResourceQuota",
        "kubernetes:apps/v1:Deployment",
        "kubernetes:apps/v1:DaemonSet",
        "kubernetes:batch/v1:CronJob",
        "kubernetes:batch/v1:Job",
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "kubernetes:policy/v1:PodDisruptionBudget",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "kubernetes:rbac.authorization.k8s.io/v1:Role",
        "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
        "kubernetes:storage.k8s.io/v1:StorageClass",
        "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
        "kubernetes:monitoring.coreos.com/v1:ServiceMonitor",
        "kubernetes:monitoring.coreos.com/v1:PodMonitor",
        "kubernetes:argoproj.io/v1alpha1:Rollout",
        "kubernetes:argoproj.io/v1alpha1:AnalysisTemplate",
        # Made up locally by the random provider.
        "random:index/randomPassword:RandomPassword",
        "random:index/randomId:RandomId",
    }
)
# Packages whose types group resources (this project's components, the stack) or configure
# a provider: never billed themselves.
NOT_BILLED_PACKAGES = ("mlops", "pulumi")


def is_free(resource_type: str) -> bool:
    """Whether a type costs nothing itself (declared free, a component or a provider)."""
    return resource_type in FREE_TYPES or resource_type.split(":", 1)[0] in NOT_BILLED_PACKAGES
