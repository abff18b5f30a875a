"""The `monitoring` and `budget` sections: who hears of alerts, and at which thresholds."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from infra.components.monitoring.alert_rules import threshold_problems
from infra.settings.fields import Email, Section, describe, matches, unique


class MonitoringSettings(Section):
    retention: Annotated[str, matches(r"[1-9][0-9]*(h|d|w|y)", "a duration like 15d")] = describe(
        "How long Prometheus keeps samples (e.g. 15d)."
    )
    storage_gib: Annotated[int, Field(ge=5, le=16_384)] = describe(
        "Size of Prometheus' gp3 volume, GiB (it drops the oldest data at 85%)."
    )
    prometheus_cpu_millicores: Annotated[int, Field(ge=100, le=64_000)] = describe(
        "CPU Prometheus requests, millicores (no CPU limit: throttling loses samples)."
    )
    prometheus_memory_mib: Annotated[int, Field(ge=512, le=262_144)] = describe(
        "Memory Prometheus requests and is limited to, MiB."
    )
    gpu_metrics: bool = describe("Run NVIDIA's DCGM exporter on the GPU nodes.")
    alert_thresholds: dict[str, float] = describe(
        "Overrides of the alert thresholds by name (the `mlops:threshold:<name>` rules in "
        "infra/components/monitoring/rules), e.g. {error_ratio: 0.02}; {} keeps the defaults."
    )
    alert_emails: Annotated[list[Email], Field(min_length=1, max_length=10)] = describe(
        "Where Alertmanager's alerts go: email subscribers of the stack's alerts SNS topic "
        "(each confirms once)."
    )

    @field_validator("alert_thresholds")
    @classmethod
    def _known_thresholds(cls, thresholds: dict[str, float]) -> dict[str, float]:
        problems = threshold_problems(thresholds)
        if problems:
            raise ValueError("; ".join(f"{name}: {why}" for name, why in problems.items()))
        return thresholds

    @field_validator("alert_emails")
    @classmethod
    def _no_duplicate_emails(cls, emails: list[str]) -> list[str]:
        return unique(emails)


class BudgetSettings(Section):
    monthly_limit_usd: Annotated[float, Field(gt=0, le=1_000_000)] = describe(
        "The stack's monthly cost budget, USD: `make rollout-check` refuses rollouts past it."
    )
    # AWS Budgets notifies at most ten email subscribers per notification.
    alert_emails: Annotated[list[Email], Field(min_length=1, max_length=10)] = describe(
        "Who hears of the budget's alerts (email subscribers of its SNS topic)."
    )
    actual_alert_percent: Annotated[float, Field(gt=0, le=1000)] = describe(
        "Alert when the month's actual spend passes this percentage of the limit."
    )
    forecast_alert_percent: Annotated[float, Field(gt=0, le=1000)] = describe(
        "Alert when the month's forecast passes this percentage of the limit."
    )
    activate_cost_allocation_tags: bool = describe(
        "Activate the cost tags in the billing account (account-wide: true in one stack only)."
    )

    @field_validator("alert_emails")
    @classmethod
    def _no_duplicate_emails(cls, emails: list[str]) -> list[str]:
        return unique(emails)
