from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.datasets import load_breast_cancer

from ml.core.features import FEATURE_NAMES, TARGET
from ml.core.params import Params
from ml.core.paths import REPO_ROOT
from ml.pipeline.ingest import ingest, raw_table_path
from ml.pipeline.schema import read_table


def test_writes_the_table_with_its_real_column_names(tmp_path: Path) -> None:
    output = ingest(tmp_path / "raw" / "table.csv")

    header = output.read_text(encoding="utf-8").splitlines()[0]
    assert header.split(",") == [*FEATURE_NAMES, TARGET]
    table = read_table(output)
    assert table.shape == (569, len(FEATURE_NAMES) + 1)
    assert table[TARGET].value_counts().to_dict() == {1: 357, 0: 212}


def test_the_csv_holds_every_source_value_exactly(tmp_path: Path) -> None:
    source = load_breast_cancer(as_frame=True).frame

    table = read_table(ingest(tmp_path / "table.csv"))

    pd.testing.assert_frame_equal(table, source[[*FEATURE_NAMES, TARGET]], check_exact=True)


def test_two_runs_write_identical_bytes(tmp_path: Path) -> None:
    first = ingest(tmp_path / "first.csv").read_bytes()
    second = ingest(tmp_path / "second.csv").read_bytes()

    assert first == second
    assert b"\r\n" not in first


def test_output_path_comes_from_params(params: Params) -> None:
    assert raw_table_path(params) == REPO_ROOT / params.ingest.output
