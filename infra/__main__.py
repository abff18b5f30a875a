"""The platform stack: wires the components together and exports what CI, DVC and deploys need.

Run by `pulumi up` (Pulumi.yaml: `main: infra/`) and offline by `make plan`.
"""

from __future__ import annotations

import pulumi

from infra.ci_access import CiAccess, CiAccessArgs
from infra.cluster import Cluster, ClusterArgs
from infra.config import load_settings
from infra.kms import StackKey, StackKeyArgs
from infra.network import Network, NetworkArgs
from infra.providers import AwsAccount, aws_provider
from infra.registry import Registry, RegistryArgs
from infra.storage import Storage, StorageArgs
from infra.tags import cost_labels, cost_tags

# Everything is checked before the first resource is declared.
settings = load_settings()
naming = settings.naming
provider = aws_provider(settings)
account = AwsAccount.lookup(provider, settings.region)
on_aws = pulumi.ResourceOptions(providers=[provider])

key = StackKey("stack", StackKeyArgs(naming=naming, account=account), opts=on_aws)
network = Network("network", NetworkArgs(settings=settings.network, naming=naming), opts=on_aws)
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
ci = CiAccess(
    "ci",
    CiAccessArgs(
        settings=settings.ci,
        state=settings.state,
        repository=settings.identity.repository,
        project=settings.identity.project,
        naming=naming,
        account=account,
        key_arn=key.arn,
        dvc_bucket_arn=storage.dvc.arn,
        artifacts_bucket_arn=storage.artifacts.arn,
        ecr_repository_arn=registry.arn,
        cluster=cluster,
    ),
    opts=on_aws,
)

pulumi.export("region", settings.region)
pulumi.export("environment", settings.environment)
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
pulumi.export("clusterAutoscalerRoleArn", cluster.autoscaler.role.arn)
pulumi.export("ciPlanRoleArn", ci.plan_role_arn)
pulumi.export("ciDeployRoleArn", ci.deploy_role_arn)
