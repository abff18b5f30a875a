"""Population stability index: zero for the same sample, large for a shift."""

from __future__ import annotations

import numpy as np
import pytest

from ml.monitoring.statistics import psi


def test_psi_is_zero_for_the_same_sample_and_large_for_a_shift() -> None:
    values = np.random.default_rng(0).normal(size=2000)
    assert psi(values, values, 10) == pytest.approx(0.0, abs=1e-12)
    assert psi(values, values + 1.0, 10) > 0.5
    assert psi(np.ones(50), np.ones(80), 10) == 0.0  # one bin only
