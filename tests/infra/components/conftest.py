"""The monitoring component, rendered once per test module that asks for it."""

from __future__ import annotations

import pytest

from tests.infra.components.monitoring_render import monitoring
from tests.support.rendering import Declared


@pytest.fixture(scope="module")
def full() -> list[Declared]:
    return monitoring(
        {
            "alertThresholds": {"error_ratio": 0.02, "gpu_util_low_percent": 5},
            "retention": "30d",
            "storageGib": 80,
        },
        model_service_monitor=True,
        system_node_selector={"pool": "system"},
    )


@pytest.fixture(scope="module")
def minimal() -> list[Declared]:
    return monitoring({"gpuMetrics": False})
