"""Fixtures for tests/ml: the project's table and params."""

from __future__ import annotations

import pandas as pd
import pytest

from ml.core.params import Params, load_params
from ml.pipeline.ingest import load_source
from ml.pipeline.prepare import split


@pytest.fixture(scope="session")
def params() -> Params:
    return load_params()


@pytest.fixture(scope="session")
def raw_table() -> pd.DataFrame:
    return load_source()


@pytest.fixture(scope="session")
def split_tables(raw_table: pd.DataFrame, params: Params) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training and test sets the prepare stage makes from the shipped table."""
    return split(raw_table, params.prepare)
