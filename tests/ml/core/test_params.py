"""params.yaml: each wrong key is named, the whole file is checked before any stage does work,
and dvc.yaml gives each stage its own section only."""

from __future__ import annotations

import copy
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ml.core.identity import PARAMS_FILE, load_identity
from ml.core.params import ParamsError, load_params, parse_params
from ml.core.paths import REPO_ROOT
from ml.core.yaml_file import ConfigFileError
from tests.support.repo import BIN, copy_repo, source_files, tool_env

PIPELINE_STAGES = ("ingest", "validate", "prepare", "train", "evaluate")
Mutation = Callable[[dict[str, Any]], object]

BAD_PARAMS: dict[str, tuple[Mutation, str]] = {
    "unknown model type": (
        lambda p: p["train"]["model"].update(type="lightgbm"),
        "train.model: Input tag 'lightgbm'",
    ),
    "bad value": (
        lambda p: p["prepare"].update(test_size=1.5),
        "prepare.test_size: Input should be less than 1",
    ),
    "wrong type": (
        lambda p: p["train"]["model"].update(max_iter="many"),
        "train.model.max_iter: Input should be a valid integer",
    ),
    "missing key": (
        lambda p: p["validate"].pop("min_rows"),
        "validate.min_rows: Field required",
    ),
    "unknown key": (
        lambda p: p["train"]["model"].update(max_iterz=50),
        "train.model.max_iterz: unknown key",
    ),
    "threshold out of range": (
        lambda p: p["evaluate"]["thresholds"].update(recall=1.2),
        "evaluate.thresholds.recall: Input should be less than or equal to 1",
    ),
}


XGBOOST = {"type": "xgboost", "n_estimators": 200, "max_depth": 3, "learning_rate": 0.1}


def _with_xgboost(**changes: Any) -> Mutation:
    return lambda p: p["train"].update(model={**XGBOOST, **changes})


BAD_XGBOOST: dict[str, tuple[Mutation, str]] = {
    "unknown device": (
        _with_xgboost(device="tpu"),
        "train.model.device: Input should be 'auto', 'cpu' or 'cuda'",
    ),
    "misspelt key": (_with_xgboost(n_estimator=10), "train.model.n_estimator: unknown key"),
    "another type's key": (_with_xgboost(max_iter=10), "train.model.max_iter: unknown key"),
    # `exact` has no GPU implementation: the same file must train on either device.
    "cpu-only tree method": (
        _with_xgboost(tree_method="exact"),
        "train.model.tree_method: Input should be 'hist' or 'approx'",
    ),
    "subsample out of range": (
        _with_xgboost(subsample=0),
        "train.model.subsample: Input should be greater than 0",
    ),
    "missing key": (
        lambda p: p["train"].update(model={"type": "xgboost", "n_estimators": 5, "max_depth": 2}),
        "train.model.learning_rate: Field required",
    ),
}
BAD_PARAMS |= BAD_XGBOOST

BAD_CHAMPION: dict[str, tuple[Mutation, str]] = {
    # The gate compares only what the evaluate stage computes.
    "margin for a metric evaluate does not compute": (
        lambda p: p["evaluate"]["champion"]["margins"].update(log_loss=0.01),
        "evaluate.champion.margins.log_loss: unknown key",
    ),
    "negative margin": (
        lambda p: p["evaluate"]["champion"]["margins"].update(accuracy=-0.01),
        "evaluate.champion.margins.accuracy: Input should be greater than or equal to 0",
    ),
    "margin above 1": (
        lambda p: p["evaluate"]["champion"]["margins"].update(recall=2),
        "evaluate.champion.margins.recall: Input should be less than or equal to 1",
    ),
    "empty champion file": (
        lambda p: p["evaluate"]["champion"].update(file=""),
        "evaluate.champion.file: String should have at least 1 character",
    ),
    "unknown champion key": (
        lambda p: p["evaluate"]["champion"].update(bucket="artifacts"),
        "evaluate.champion.bucket: unknown key",
    ),
}
BAD_PARAMS |= BAD_CHAMPION


def _shipped() -> dict[str, Any]:
    return yaml.safe_load(PARAMS_FILE.read_text(encoding="utf-8"))


def test_the_shipped_file_is_valid() -> None:
    assert load_params().train.model.type == "hist_gradient_boosting"


def test_the_shipped_gate_compares_accuracy_and_roc_auc_with_the_registry() -> None:
    champion = load_params().evaluate.champion
    assert sorted(champion.margins.model_dump(exclude_none=True)) == ["accuracy", "roc_auc"]
    assert champion.file is None


def test_without_a_champion_section_no_metric_is_compared() -> None:
    data = _shipped()
    del data["evaluate"]["champion"]

    champion = parse_params(data).evaluate.champion

    assert (champion.margins.model_dump(exclude_none=True), champion.file) == ({}, None)


def test_an_xgboost_model_takes_xgboost_s_defaults_and_device_auto() -> None:
    data = _shipped()
    _with_xgboost()(data)

    model = parse_params(data).train.model

    assert model.model_dump() == {
        **XGBOOST,
        "subsample": 1.0,
        "colsample_bytree": 1.0,
        "min_child_weight": 1.0,
        "reg_lambda": 1.0,
        "reg_alpha": 0.0,
        "tree_method": "hist",
        "device": "auto",
    }


def test_the_commented_xgboost_example_in_params_yaml_is_valid() -> None:
    text = PARAMS_FILE.read_text(encoding="utf-8")
    start = text.index("#   model:\n")
    lines = []
    for line in (line.lstrip() for line in text[start:].splitlines()):
        if not line.startswith("#   "):
            break
        lines.append(line.removeprefix("#   "))
    data = _shipped()
    data["train"].update(yaml.safe_load("\n".join(lines)))

    model = parse_params(data).train.model

    assert (model.type, model.device) == ("xgboost", "auto")  # type: ignore[union-attr]


@pytest.mark.parametrize("case", BAD_PARAMS, ids=str)
def test_a_bad_file_is_rejected_naming_the_key(case: str) -> None:
    mutate, expected = BAD_PARAMS[case]
    data = copy.deepcopy(_shipped())
    mutate(data)

    with pytest.raises(ParamsError, match=r"invalid params\.yaml") as error:
        parse_params(data)

    assert expected in str(error.value)


def test_every_stage_depends_on_its_own_section_only() -> None:
    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]

    for name in PIPELINE_STAGES:
        assert stages[name]["cmd"] == f"python -m ml.pipeline.{name}"
        assert stages[name]["params"] == [name]
        assert f"ml/pipeline/{name}.py" in stages[name]["deps"]
    # The bento carries params.yaml: the sections its labels and model card show, its cost
    # labels, and the serving and monitoring settings it runs with.
    expected = ["identity", *PIPELINE_STAGES, "package", "serve", "monitoring"]
    assert stages["package"]["params"] == expected


@pytest.mark.slow
def test_a_bad_key_anywhere_stops_every_stage_before_it_writes(tmp_path: Path) -> None:
    """A typo in train's section stops even ingest: nothing is written, the key is named."""
    copy_repo(tmp_path, [name for name in source_files() if name.startswith("ml/")])
    data = _shipped()
    data["train"]["model"]["max_iterz"] = 50
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")

    runs = {
        stage: subprocess.Popen(
            [BIN / "python", "-m", f"ml.pipeline.{stage}"],
            cwd=tmp_path,
            env=tool_env(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for stage in PIPELINE_STAGES
    }

    for stage, process in runs.items():
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 1, (stage, stderr)
        assert "train.model.max_iterz: unknown key" in stderr, stage
        assert "Traceback" not in stderr, stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ml", "params.yaml"]


# A stray colon in the model section: PyYAML reports it at the second colon.
BROKEN_LINE = "  max_iter: 300: 400\n"


def _broken_params() -> tuple[str, str]:
    """params.yaml with one broken line, and the `params.yaml:<line>:<column>` it fails at."""
    lines = PARAMS_FILE.read_text(encoding="utf-8").splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.strip().startswith("max_iter:"))
    indent = len(lines[index]) - len(lines[index].lstrip())
    lines[index] = " " * indent + BROKEN_LINE.lstrip()
    return "".join(lines), f"params.yaml:{index + 1}:{indent + len('max_iter: 300') + 1}"


def test_a_yaml_syntax_error_names_file_line_and_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text, where = _broken_params()
    (tmp_path / "params.yaml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    with pytest.raises(ParamsError) as error:
        load_params(tmp_path / "params.yaml")

    assert str(error.value) == f"{where}: YAML syntax error: mapping values are not allowed here"


def test_the_identity_reader_says_where_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text, where = _broken_params()
    (tmp_path / "params.yaml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    with pytest.raises(ConfigFileError, match=rf"^{re.escape(where)}: YAML syntax error"):
        load_identity(tmp_path / "params.yaml")


def test_a_stage_reports_a_yaml_syntax_error_in_one_line(tmp_path: Path) -> None:
    copy_repo(tmp_path, [name for name in source_files() if name.startswith("ml/")])
    text, where = _broken_params()
    (tmp_path / "params.yaml").write_text(text, encoding="utf-8")

    result = subprocess.run(
        [BIN / "python", "-m", "ml.pipeline.prepare"],
        cwd=tmp_path,
        env=tool_env(tmp_path),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        f"{where}: YAML syntax error: mapping values are not allowed here"
    ]
