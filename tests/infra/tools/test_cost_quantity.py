"""Kubernetes quantities as the cost estimate reads them: limits, requests, volume sizes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from infra.tools.cost import CostError
from infra.tools.cost.quantity import gib, quantity


@pytest.mark.parametrize(
    ("value", "number"),
    [
        ("64Gi", 64 * 2**30),
        ("16", 16),
        ("16000m", 16),
        ("2", 2),
        (2, 2),
        ("1.5Ki", 1536),
        ("100G", 10**11),
        ("1e3", 1000),
        ("500u", Decimal("0.0005")),
    ],
)
def test_kubernetes_quantities(value: Any, number: Decimal | int) -> None:
    assert quantity(value) == number


@pytest.mark.parametrize("value", ["64 Gi", "64GB", "", "Gi", None, True])
def test_malformed_quantities_are_errors(value: Any) -> None:
    with pytest.raises(CostError, match="is not a Kubernetes quantity"):
        quantity(value)


def test_storage_sizes_are_gib() -> None:
    assert (gib("50Gi"), gib(20), gib("2Ti")) == (50, 20, 2048)
