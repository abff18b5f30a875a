"""The `training` section: GitHub Actions runners on the cluster's training GPU pools.

Each `training` NodePool gets a runner scale set (GitHub's Actions Runner Controller) whose
runners take one GPU each; the workflows that train run there when the repository variable
TRAINING_RUNNER names the set. The GitHub App's private key is a Pulumi secret of its own
(`pulumi config set --secret githubAppPrivateKey < app.pem`), never a plain setting.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from infra.settings.fields import Namespace, Section, describe

# The Pulumi secret that holds the GitHub App's private key (PEM).
GITHUB_APP_KEY_SETTING = "githubAppPrivateKey"


class TrainingSettings(Section):
    namespace: Namespace = describe("Namespace of the runner scale sets and their runner pods.")
    runner_cpu_millicores: Annotated[int, Field(ge=500, le=192000)] = describe(
        "CPU a runner pod requests (and may use), millicores; must fit the pool's smallest node."
    )
    runner_memory_mib: Annotated[int, Field(ge=1024, le=2097152)] = describe(
        "Memory a runner pod requests and is limited to, MiB; must fit the smallest node."
    )
    github_app_id: Annotated[int, Field(ge=1)] | None = describe(
        "The GitHub App's ID (README: Training on the cluster's GPUs); null until it exists."
    )
    github_app_installation_id: Annotated[int, Field(ge=1)] | None = describe(
        "The App's installation ID on the repository; null until it exists."
    )

    @model_validator(mode="after")
    def _app_complete(self) -> TrainingSettings:
        if (self.github_app_id is None) != (self.github_app_installation_id is None):
            raise ValueError("githubAppId and githubAppInstallationId are set together")
        return self

    @property
    def github_app(self) -> tuple[int, int] | None:
        if self.github_app_id is None or self.github_app_installation_id is None:
            return None
        return self.github_app_id, self.github_app_installation_id
