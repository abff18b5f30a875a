"""`StackSettings`: every section of one stack, with the checks that span sections."""

from __future__ import annotations

from pydantic import BaseModel, ValidationInfo, field_validator

from infra.settings.ci import CiSettings
from infra.settings.cluster import ClusterSettings
from infra.settings.fields import SETTINGS_CONFIG, EnvironmentName, Region, describe
from infra.settings.monitoring import BudgetSettings, MonitoringSettings
from infra.settings.naming import Naming
from infra.settings.network import NetworkSettings
from infra.settings.node_pools import NODE_RESERVED_MIB, NODE_RESERVED_MILLICORES
from infra.settings.serving import SERVING_WORKLOAD, ServingSettings
from infra.settings.state import StateSettings
from infra.settings.storage import RegistrySettings, StorageSettings
from infra.settings.training import TrainingSettings
from ml.core.identity import Identity


class StackSettings(BaseModel):
    """All settings of one stack; field names (camelCase) are the keys of the stack file."""

    model_config = SETTINGS_CONFIG

    identity: Identity = describe("params.yaml's identity section (never in the stack file).")
    region: Region = describe("`aws:region`: where the stack runs.")
    environment: EnvironmentName = describe(
        "The stack's environment: its cost tag and part of every name (budget, buckets, cluster)."
    )
    network: NetworkSettings = describe("The VPC.")
    cluster: ClusterSettings = describe("The EKS cluster and its node pools.")
    storage: StorageSettings = describe("The DVC, artifacts and access-log buckets.")
    registry: RegistrySettings = describe("The ECR repository of bento images.")
    monitoring: MonitoringSettings = describe(
        "Prometheus, Alertmanager, Grafana, the Pushgateway and the DCGM exporter."
    )
    budget: BudgetSettings = describe("The monthly AWS Budget and its alerts.")
    ci: CiSettings = describe("GitHub Actions' OIDC roles: plan, model deploy, infra.")
    serving: ServingSettings = describe(
        "The model service (Argo Rollouts canary) and its drift CronJob."
    )
    training: TrainingSettings = describe(
        "GitHub Actions runners on the training GPU pools (Actions Runner Controller)."
    )
    state: StateSettings = describe("The Pulumi state backend the CI roles use.")

    @field_validator("environment")
    @classmethod
    def _names_fit(cls, environment: str, info: ValidationInfo) -> str:
        identity = info.data.get("identity")
        problems = Naming(identity.project, environment).too_long() if identity else []
        if problems:
            raise ValueError(
                "names derived from identity.project and environment are too long: "
                + "; ".join(problems)
            )
        return environment

    @field_validator("serving")
    @classmethod
    def _serving_fits_the_stack(
        cls, serving: ServingSettings, info: ValidationInfo
    ) -> ServingSettings:
        ci, cluster = info.data.get("ci"), info.data.get("cluster")
        if ci is not None and serving.namespace not in ci.deploy_namespaces:
            raise ValueError(
                f"namespace {serving.namespace!r} is not one of ci.deployNamespaces "
                f"({', '.join(ci.deploy_namespaces)}): the deploy role could not roll it out"
            )
        if cluster is not None and serving.gpus:
            # Model pods select the `inference` GPU pools (infra/components/serving/pod.py).
            fitting = [
                p.name
                for p in cluster.pools_for(SERVING_WORKLOAD)
                if p.most_gpus_per_node >= serving.gpus
            ]
            if not fitting:
                raise ValueError(
                    f"gpus is {serving.gpus} but no cluster.nodePools entry has workloadType "
                    f"inference and {serving.gpus}+ GPUs per node: the pods would never schedule"
                )
        return serving

    @field_validator("training")
    @classmethod
    def _runners_fit(cls, training: TrainingSettings, info: ValidationInfo) -> TrainingSettings:
        cluster = info.data.get("cluster")
        for pool in cluster.pools_for("training") if cluster is not None else []:
            node = pool.smallest_node
            cpu = node.vcpus * 1000 - NODE_RESERVED_MILLICORES
            memory = node.memory_gib * 1024 - NODE_RESERVED_MIB
            if training.runner_cpu_millicores > cpu or training.runner_memory_mib > memory:
                raise ValueError(
                    f"a runner ({training.runner_cpu_millicores}m, {training.runner_memory_mib}Mi) "
                    f"does not fit pool {pool.name}'s smallest node, which has room for "
                    f"{cpu}m and {memory}Mi"
                )
        return training

    @property
    def naming(self) -> Naming:
        return Naming(self.identity.project, self.environment)


# Stack-file keys of the project namespace: every field except identity (from params.yaml) and
# region (`aws:region`).
SECTION_KEYS = tuple(
    (field.alias or name)
    for name, field in StackSettings.model_fields.items()
    if name not in ("identity", "region")
)
