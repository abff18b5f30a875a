"""What TrainingRunners is given: the stack's settings and what the program already declared."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi

from infra.helpers.iam import Irsa
from infra.settings import GpuNodePool, Naming, TrainingSettings
from infra.settings.training import GITHUB_APP_KEY_SETTING


@dataclass(frozen=True)
class TrainingRunnersArgs:
    settings: TrainingSettings
    # The cluster's `training` NodePools: one runner scale set each.
    pools: Sequence[GpuNodePool]
    naming: Naming
    # The GitHub repository (`owner/name`) the runners register with.
    repository: str
    region: str
    irsa: Irsa
    # What the runners' IAM role reaches: the DVC remote (read and write), the artifacts
    # bucket (read) and the stack key both are encrypted with.
    dvc_bucket_arn: pulumi.Input[str]
    artifacts_bucket_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    # `<runner images repository url>:<tag>`.
    runner_image: pulumi.Input[str]
    # The always-on pool the controller and the listeners run on.
    system_pool: str
    cost_labels: Mapping[str, str]

    def __post_init__(self) -> None:
        wrong = [p.name for p in self.pools if p.workload_type != "training" or not p.max_runners]
        if wrong:
            raise ValueError(
                f"TrainingRunnersArgs: pools {', '.join(wrong)} are no training pools with "
                "maxRunners"
            )

    @property
    def github_url(self) -> str:
        return f"https://github.com/{self.repository}"

    @property
    def app_key_setting(self) -> str:
        """The Pulumi config key of the App's private key, as `pulumi config` names it."""
        return f"{self.naming.project}:{GITHUB_APP_KEY_SETTING}"
