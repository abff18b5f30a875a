"""The `serving` section: the model service, its canary gates and its drift CronJob."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator

from infra.helpers.labels import ACCELERATOR_LABEL, WORKLOAD_LABEL
from infra.settings.fields import Namespace, Section, describe, matches, unique
from ml.core.artifacts import DRIFT_MODULE
from ml.core.identity import LabelValue

# The GPU pools' workload type that model pods with GPUs select.
SERVING_WORKLOAD = "inference"

# A CronJob schedule: five cron fields, or one of the @ shorthands Kubernetes accepts.
_CRON_FIELD = r"[0-9A-Za-z*/,?-]+"
_CRON = rf"@(hourly|daily|weekly|monthly|yearly)|({_CRON_FIELD}\s+){{4}}{_CRON_FIELD}"
_MODULE = r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*"
# An image by digest, `<registry>/<repo>@sha256:<64 hex>`: a tag can be moved to other bytes, so a
# hand-run `pulumi up` with one would deploy whatever the tag points to that day.
IMAGE_BY_DIGEST = r"[A-Za-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+@sha256:[0-9a-f]{64}"


class ServingSettings(Section):
    """The model service: CI fills image, modelVersion and bentoTag when it ships a model
    (`make up IMAGE=... BENTO=...`); until then they are null and no service is declared."""

    image: (
        Annotated[
            str,
            matches(IMAGE_BY_DIGEST, "an image by digest (<registry>/<repo>@sha256:<64 hex>)"),
        ]
        | None
    ) = describe(
        "The image the model runs, by digest only (`<ecr-url>@sha256:<64 hex>`, never a tag); "
        "set by CI, null before the first shipped model."
    )
    model_version: LabelValue | None = describe(
        "The bento's version: the pods' `model-version` label; set by CI with image."
    )
    bento_tag: Annotated[str, matches(r"[a-z0-9][a-z0-9_.-]*:[A-Za-z0-9_.-]+", "NAME:VERSION")] | (
        None
    ) = describe("The bento's tag (NAME:VERSION); set by CI with image.")
    drift_module: Annotated[str, matches(_MODULE, "a dotted module path")] | None = describe(
        "The module the drift CronJob runs in the image (`python -m`), the image's own layout; "
        f"set by CI with image, null means {DRIFT_MODULE}."
    )
    namespace: Namespace = describe(
        "Namespace of the service (one of ci.deployNamespaces; Pod Security `restricted`)."
    )
    min_replicas: Annotated[int, Field(ge=1, le=100)] = describe("Fewest model pods (HPA).")
    max_replicas: Annotated[int, Field(ge=1, le=500)] = describe("Most model pods (HPA).")
    target_cpu_percent: Annotated[int, Field(ge=10, le=100)] = describe(
        "Average CPU use, percent of the request, the HPA scales towards."
    )
    cpu_millicores: Annotated[int, Field(ge=50, le=64_000)] = describe(
        "CPU each model pod requests, millicores."
    )
    memory_mib: Annotated[int, Field(ge=64, le=262_144)] = describe(
        "Memory each model pod requests, MiB."
    )
    cpu_limit_millicores: Annotated[int, Field(ge=50, le=64_000)] = describe(
        "CPU limit of each model pod, millicores."
    )
    memory_limit_mib: Annotated[int, Field(ge=64, le=262_144)] = describe(
        "Memory limit of each model pod, MiB."
    )
    gpus: Annotated[int, Field(ge=0, le=8)] = describe(
        "NVIDIA GPUs per pod; above 0 the pods run on an `inference` GPU pool."
    )
    client_namespaces: list[Namespace] = describe(
        "Namespaces allowed to call the service besides its own (an ingress controller's)."
    )
    max_error_ratio: Annotated[float, Field(gt=0, lt=1)] = describe(
        "Canary gate: the analysis fails when the canary's 5xx ratio exceeds this."
    )
    max_p95_latency_s: Annotated[float, Field(gt=0, le=60)] = describe(
        "Canary gate: the analysis fails when the canary's p95 latency exceeds this, seconds."
    )
    analysis_interval_s: Annotated[int, Field(ge=30, le=3600)] = describe(
        "Seconds between two measurements of a canary analysis."
    )
    analysis_count: Annotated[int, Field(ge=1, le=60)] = describe(
        "Measurements per canary analysis step."
    )
    failure_limit: Annotated[int, Field(ge=0, le=10)] = describe(
        "Failed measurements a step tolerates before the rollout aborts."
    )
    rollout_timeout_s: Annotated[int, Field(ge=60, le=7200)] = describe(
        "How long `pulumi up` waits for the Rollout to become Healthy, seconds."
    )
    drift_schedule: Annotated[str, matches(_CRON, "a five-field cron schedule")] = describe(
        "When the drift CronJob compares the logged requests with the training data (cron, UTC)."
    )
    drift_window_hours: Annotated[int, Field(ge=1, le=720)] = describe(
        "Hours of logged requests each drift check judges."
    )

    @field_validator("client_namespaces")
    @classmethod
    def _no_duplicates(cls, values: list[str]) -> list[str]:
        return unique(values)

    @model_validator(mode="after")
    def _consistent(self) -> ServingSettings:
        if self.max_replicas < self.min_replicas:
            raise ValueError("maxReplicas must be >= minReplicas")
        if self.cpu_limit_millicores < self.cpu_millicores:
            raise ValueError("cpuLimitMillicores must be >= cpuMillicores")
        if self.memory_limit_mib < self.memory_mib:
            raise ValueError("memoryLimitMib must be >= memoryMib")
        shipped = (self.image, self.model_version, self.bento_tag)
        if any(v is None for v in shipped) and any(v is not None for v in shipped):
            raise ValueError(
                "image, modelVersion and bentoTag are set together (make up IMAGE=...)"
            )
        if self.bento_tag is not None and self.bento_tag.split(":", 1)[1] != self.model_version:
            raise ValueError(f"modelVersion must be the version of bentoTag {self.bento_tag}")
        return self

    @property
    def drift_entrypoint(self) -> str:
        """The drift module of the image the stack runs."""
        return self.drift_module or DRIFT_MODULE

    @property
    def shipped(self) -> bool:
        """Whether a model has been shipped to this stack, so there is a service to declare."""
        return self.image is not None

    @property
    def gpu_node_selector(self) -> dict[str, str]:
        """The node labels pods with GPUs select: the stack's inference GPU pools."""
        return {ACCELERATOR_LABEL: "nvidia", WORKLOAD_LABEL: SERVING_WORKLOAD}
