"""Every stack setting as one typed model, validated before any resource is declared.

A stack file (`Pulumi.<stack>.yaml`) holds one key per section under the project namespace plus
`aws:region`; the project's identity and cost tags come from params.yaml (ml/core/identity.py) only.
`validate_settings` takes the plain mapping of those keys, so it runs without Pulumi; a wrong
setting fails with the exact key to fix (`<project>:cluster.nodePools[0].limits.gpus: ...`).

Adding a section: write one `Section` model (fields.py) in a module of its own and add it as a
field of `StackSettings` (stack.py). AWS facts, GPU ones included, live in catalogue.py.
"""

from __future__ import annotations

from infra.settings.catalogue import (
    GPU_INSTANCE_FAMILIES,
    gpu_count,
    is_gpu_ami_type,
    is_gpu_instance_type,
    is_gpu_pool,
)
from infra.settings.ci import CiSettings
from infra.settings.cluster import ClusterSettings, NodePool, SystemPool
from infra.settings.fields import Section
from infra.settings.loading import SettingsError, decode_json_text, load_settings, validate_settings
from infra.settings.monitoring import BudgetSettings, MonitoringSettings
from infra.settings.naming import (
    ACCESS_LOGS_BUCKET,
    ARTIFACTS_BUCKET,
    BUCKET_PURPOSES,
    DVC_BUCKET,
    ROLE_PURPOSES,
    Naming,
    state_bucket_name,
    state_key_alias,
)
from infra.settings.network import NetworkSettings
from infra.settings.node_pools import GPU_TAINT, GpuNodePool, KarpenterSettings
from infra.settings.serving import SERVING_WORKLOAD, ServingSettings
from infra.settings.stack import SECTION_KEYS, StackSettings
from infra.settings.state import StateSettings
from infra.settings.storage import RegistrySettings, StorageSettings
from infra.settings.training import GITHUB_APP_KEY_SETTING, TrainingSettings

__all__ = [
    "ACCESS_LOGS_BUCKET",
    "ARTIFACTS_BUCKET",
    "BUCKET_PURPOSES",
    "DVC_BUCKET",
    "GITHUB_APP_KEY_SETTING",
    "GPU_INSTANCE_FAMILIES",
    "GPU_TAINT",
    "ROLE_PURPOSES",
    "SECTION_KEYS",
    "SERVING_WORKLOAD",
    "BudgetSettings",
    "CiSettings",
    "ClusterSettings",
    "GpuNodePool",
    "KarpenterSettings",
    "MonitoringSettings",
    "Naming",
    "NetworkSettings",
    "NodePool",
    "RegistrySettings",
    "Section",
    "ServingSettings",
    "SettingsError",
    "StackSettings",
    "StateSettings",
    "StorageSettings",
    "SystemPool",
    "TrainingSettings",
    "decode_json_text",
    "gpu_count",
    "is_gpu_ami_type",
    "is_gpu_instance_type",
    "is_gpu_pool",
    "load_settings",
    "state_bucket_name",
    "state_key_alias",
    "validate_settings",
]
