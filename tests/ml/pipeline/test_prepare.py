from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from ml.core.features import TARGET
from ml.core.params import Params, PrepareParams
from ml.pipeline.prepare import UnvalidatedTableError, prepare, split
from ml.pipeline.schema import read_table, write_table
from ml.pipeline.validate import run as run_validation


def test_split_is_stratified_and_complete(raw_table: pd.DataFrame, params: Params) -> None:
    train, test = split(raw_table, params.prepare)

    assert len(test) == math.ceil(len(raw_table) * params.prepare.test_size)
    assert train.index.intersection(test.index).empty
    assert len(train) + len(test) == len(raw_table)
    shares = raw_table[TARGET].mean()
    assert train[TARGET].mean() == pytest.approx(shares, abs=0.005)
    assert test[TARGET].mean() == pytest.approx(shares, abs=0.005)


def test_the_seed_fixes_the_split(raw_table: pd.DataFrame) -> None:
    same = [split(raw_table, PrepareParams(test_size=0.3, seed=7))[1].index for _ in range(2)]
    other = split(raw_table, PrepareParams(test_size=0.3, seed=8))[1].index

    assert same[0].equals(same[1])
    assert not same[0].equals(other)


@pytest.fixture
def validated(tmp_path: Path, raw_table: pd.DataFrame, params: Params) -> tuple[Path, Path]:
    source, report = tmp_path / "raw.csv", tmp_path / "validation.json"
    write_table(raw_table, source)
    run_validation(source, params.validate_, report)
    return source, report


def test_writes_train_and_test_files(
    tmp_path: Path, validated: tuple[Path, Path], params: Params
) -> None:
    train_file, test_file = tmp_path / "out" / "train.csv", tmp_path / "out" / "test.csv"

    assert prepare(validated[0], params.prepare, validated[1], train_file, test_file) == (426, 143)

    train, test = read_table(train_file), read_table(test_file)
    assert list(train.columns) == list(test.columns) == list(read_table(validated[0]).columns)
    assert (len(train), len(test)) == (426, 143)


def test_refuses_a_table_that_failed_validation(
    tmp_path: Path, validated: tuple[Path, Path], params: Params
) -> None:
    source, report = validated
    report.write_text(json.dumps({"passed": False}), encoding="utf-8")

    with pytest.raises(UnvalidatedTableError, match="failed validation"):
        prepare(source, params.prepare, report, tmp_path / "train.csv", tmp_path / "test.csv")
    assert not (tmp_path / "train.csv").exists()


def test_refuses_a_table_changed_since_validation(
    tmp_path: Path, validated: tuple[Path, Path], params: Params
) -> None:
    source, report = validated
    source.write_text(source.read_text(encoding="utf-8") + "\n", encoding="utf-8")

    with pytest.raises(UnvalidatedTableError, match="changed after it was validated"):
        prepare(source, params.prepare, report, tmp_path / "train.csv", tmp_path / "test.csv")


def test_refuses_without_a_report(
    tmp_path: Path, validated: tuple[Path, Path], params: Params
) -> None:
    source, report = validated
    report.unlink()

    with pytest.raises(UnvalidatedTableError, match="is missing: run `dvc repro validate`"):
        prepare(source, params.prepare, report, tmp_path / "train.csv", tmp_path / "test.csv")
