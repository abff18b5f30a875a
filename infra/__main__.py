"""The platform stack: wires the components together and exports what CI, DVC and deploys need.

Run by `pulumi up` (Pulumi.yaml: `main: infra/`) and offline by `make plan`.
"""

from __future__ import annotations

import pulumi

from infra.components.budget import Budget, BudgetArgs
from infra.components.ci_access import DEPLOY_GROUP, CiAccess, CiAccessArgs
from infra.components.cluster import Cluster, ClusterArgs
from infra.components.karpenter import Karpenter, KarpenterArgs
from infra.components.key import StackKey, StackKeyArgs
from infra.components.monitoring.args import AlertSink, MonitoringArgs
from infra.components.monitoring.component import Monitoring
from infra.components.monitoring.names import (
    SERVICE_MONITOR_LABELS,
    prometheus_url,
    pushgateway_url,
)
from infra.components.network import Network, NetworkArgs
from infra.components.registry import RUNNERS, Registry, RegistryArgs
from infra.components.serving import (
    MODEL_SERVING_NAME,
    ModelServing,
    RolloutsController,
    RolloutsControllerArgs,
    ServingArgs,
    ServingPlatform,
    ServingPlatformArgs,
)
from infra.components.storage import Storage, StorageArgs
from infra.components.training import TrainingRunners, TrainingRunnersArgs
from infra.helpers.labels import NODE_POOL_LABEL
from infra.helpers.providers import AwsAccount, aws_provider
from infra.helpers.tags import cost_labels, cost_tags
from infra.settings import load_settings
from infra.tools.runner_image import runner_image_tag
from ml.core.params import load_params

# Everything is checked before the first resource is declared.
settings = load_settings()
model_name = load_params().package.model_name
naming = settings.naming
environment = settings.environment
provider = aws_provider(settings)
account = AwsAccount.lookup(provider, settings.region)
on_aws = pulumi.ResourceOptions(providers=[provider])

key = StackKey("stack", StackKeyArgs(naming=naming, account=account), opts=on_aws)
network = Network(
    "network",
    NetworkArgs(settings=settings.network, naming=naming, account=account, key_arn=key.arn),
    opts=on_aws,
)
storage = Storage(
    "storage",
    StorageArgs(settings=settings.storage, naming=naming, account=account, key_arn=key.arn),
    opts=on_aws,
)
registry = Registry(
    "bentos",
    RegistryArgs(settings=settings.registry, naming=naming, key_arn=key.arn),
    opts=on_aws,
)
runner_images = Registry(
    "runners",
    RegistryArgs(settings=settings.registry, naming=naming, key_arn=key.arn, purpose=RUNNERS),
    opts=on_aws,
)
cluster = Cluster(
    "cluster",
    ClusterArgs(
        settings=settings.cluster,
        naming=naming,
        account=account,
        key_arn=key.arn,
        control_plane_subnet_ids=network.private_subnet_ids,
        node_subnet_ids=network.node_subnet_ids,
        cost_tags=cost_tags(settings),
        cost_labels=cost_labels(settings),
    ),
    opts=on_aws,
)
# Kubernetes objects go through the cluster's provider, AWS ones through the tagged provider.
in_cluster = pulumi.ResourceOptions(providers=[provider, cluster.kubernetes])
after_nodes = pulumi.ResourceOptions.merge(
    in_cluster, pulumi.ResourceOptions(depends_on=cluster.ready)
)
karpenter = Karpenter(
    "karpenter",
    KarpenterArgs(
        settings=settings.cluster,
        naming=naming,
        account=account,
        irsa=cluster.irsa,
        kubernetes=cluster.kubernetes,
        cluster_name=cluster.name,
        cluster_endpoint=cluster.endpoint,
        cluster_security_group_id=cluster.security_group_id,
        key_arn=key.arn,
        cost_tags=cost_tags(settings),
        cost_labels=cost_labels(settings),
    ),
    opts=after_nodes,
)
budget = Budget(
    "budget",
    BudgetArgs(
        settings=settings.budget,
        environment=environment,
        name=naming.budget,
        topic_name=naming.topic("budget-alerts"),
    ),
    opts=on_aws,
)
monitoring = Monitoring(
    "monitoring",
    MonitoringArgs(
        settings=settings.monitoring,
        environment=environment,
        model_name=model_name,
        alert_sink=AlertSink(
            naming=naming, region=settings.region, irsa=cluster.irsa, key_arn=key.arn
        ),
        model_namespace=settings.serving.namespace,
        system_node_selector={NODE_POOL_LABEL: settings.cluster.system_pool.name},
    ),
    opts=after_nodes,
)
ci = CiAccess(
    "ci",
    CiAccessArgs.for_stack(
        settings,
        pulumi.get_stack(),
        account=account,
        key_arn=key.arn,
        dvc_bucket_arn=storage.dvc.arn,
        artifacts_bucket_arn=storage.artifacts.arn,
        ecr_repository_arn=registry.arn,
        cluster=cluster,
    ),
    opts=on_aws,
)
platform = ServingPlatform(
    "serving-platform",
    ServingPlatformArgs(
        settings=settings.serving,
        environment=environment,
        model_name=model_name,
        naming=naming,
        region=settings.region,
        irsa=cluster.irsa,
        artifacts_bucket=storage.artifacts.name,
        artifacts_bucket_arn=storage.artifacts.arn,
        key_arn=key.arn,
        deploy_namespaces=settings.ci.deploy_namespaces,
        deploy_group=DEPLOY_GROUP,
    ),
    opts=after_nodes,
)
# GitHub runners on the training GPU pools; the image tag hashes what the image is built from.
training = TrainingRunners(
    "training",
    TrainingRunnersArgs(
        settings=settings.training,
        pools=settings.cluster.pools_for("training"),
        naming=naming,
        repository=settings.identity.repository,
        region=settings.region,
        irsa=cluster.irsa,
        dvc_bucket_arn=storage.dvc.arn,
        artifacts_bucket_arn=storage.artifacts.arn,
        key_arn=key.arn,
        runner_image=pulumi.Output.concat(runner_images.url, ":", runner_image_tag()),
        system_pool=settings.cluster.system_pool.name,
        cost_labels=cost_labels(settings),
    ),
    opts=pulumi.ResourceOptions.merge(after_nodes, pulumi.ResourceOptions(depends_on=[karpenter])),
)
controller = RolloutsController(
    "argo-rollouts",
    RolloutsControllerArgs(environment=environment, service_monitor_labels=SERVICE_MONITOR_LABELS),
    opts=pulumi.ResourceOptions(
        providers=[cluster.kubernetes], depends_on=[*cluster.ready, monitoring.stack]
    ),
)
if settings.serving.shipped:
    serving = ModelServing(
        MODEL_SERVING_NAME,
        ServingArgs(
            environment=environment,
            region=settings.region,
            model_name=model_name,
            prometheus_url=prometheus_url(monitoring.namespace_name),
            prometheus_namespace=monitoring.namespace_name,
            service_monitor_labels=SERVICE_MONITOR_LABELS,
            pushgateway_url=pushgateway_url(monitoring.namespace_name),
            settings=settings.serving,
            access=platform.access,
        ),
        opts=pulumi.ResourceOptions(
            providers=[cluster.kubernetes],
            depends_on=[platform, controller, monitoring.stack, monitoring.pushgateway],
        ),
    )
    pulumi.export("modelServiceUrl", serving.service_url)
    pulumi.export("modelVersion", settings.serving.model_version)

pulumi.export("region", settings.region)
pulumi.export("environment", environment)
pulumi.export("kmsKeyArn", key.arn)
pulumi.export("vpcId", network.vpc_id)
pulumi.export("dvcBucket", storage.dvc.name)
pulumi.export("dvcRemoteUrl", storage.dvc_remote_url)
pulumi.export("artifactsBucket", storage.artifacts.name)
pulumi.export("accessLogsBucket", storage.access_logs.name)
pulumi.export("ecrRepositoryUrl", registry.url)
pulumi.export("clusterName", cluster.name)
pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export("oidcProviderArn", cluster.oidc_provider_arn)
pulumi.export("karpenterRoleArn", karpenter.role_arn)
pulumi.export("runnerImageRepositoryUrl", runner_images.url)
pulumi.export("trainingRunner", training.default_scale_set)
pulumi.export("trainingRunnerScaleSets", training.scale_set_names)
pulumi.export("trainingRunnerRoleArn", training.runner_role_arn)
pulumi.export("budgetName", budget.budget_name)
pulumi.export("budgetAlertsTopicArn", budget.topic_arn)
pulumi.export("alertsTopicArn", monitoring.alerts_topic_arn)
pulumi.export("grafanaAdminPassword", monitoring.grafana_admin_password)
pulumi.export("ciPlanRoleArn", ci.plan_role_arn)
pulumi.export("ciDeployRoleArn", ci.deploy_role_arn)
pulumi.export("ciInfraRoleArn", ci.infra_role_arn)
