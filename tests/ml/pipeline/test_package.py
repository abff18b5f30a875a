"""The package stage: lineage and cost labels, the model card, and a real bento build."""

from __future__ import annotations

import re
import subprocess
from importlib.metadata import version
from pathlib import Path

import joblib
import pytest
import yaml
from sklearn.ensemble import RandomForestClassifier
from xgboost import XGBClassifier

from ml.core.identity import COST_LABEL_KEYS, load_identity
from ml.core.params import load_params
from ml.core.paths import REPO_ROOT
from ml.pipeline import bento_build, lineage
from ml.pipeline.lineage import DataRecord, PackageError
from ml.pipeline.model_card import CardFacts, render
from tests.support.packaging import Inputs, bento_dir, md5, run_package, write_inputs

K8S_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
METRICS = {"accuracy": 0.97, "roc_auc": 0.99, "f1": 0.975, "precision": 0.96, "recall": 0.99}


def git(repo: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    command += ["-c", "commit.gpgsign=false", *args]
    return subprocess.run(command, cwd=repo, check=True, capture_output=True, text=True).stdout


# --- labels ---------------------------------------------------------------------------------


def test_labels_are_kubernetes_labels_with_lineage_params_metrics_and_cost() -> None:
    params = load_params()
    data = DataRecord(params.ingest.output, "0" * 32, 10)
    labels = lineage.lineage_labels(params, METRICS, "a" * 40, data, "f" * 32)

    assert all(K8S_LABEL.match(key) and K8S_LABEL.match(value) for key, value in labels.items())
    assert {key: labels[key] for key in COST_LABEL_KEYS} == load_identity().cost_labels()
    assert labels["git-commit"] == "a" * 40
    assert labels["data-md5"] == "0" * 32
    assert labels["model-md5"] == "f" * 32
    assert labels["metrics.roc_auc"] == "0.99"
    assert labels["params.train.seed"] == str(params.train.seed)
    assert labels["params.train.model.type"] == params.train.model.type
    assert labels["params.serve.max_rows"] == str(params.serve.max_rows)
    assert labels["params.validate.min_rows"] == str(params.validate_.min_rows)
    assert not any(key.startswith("params.identity") for key in labels)


@pytest.mark.parametrize(
    ("value", "label"),
    [
        (None, "none"),
        (False, "false"),
        (0.1, "0.1"),
        (256, "256"),
        ("data/raw/table.csv", "data-raw-table.csv"),
        (("mean radius", "mean area"), "mean-radius_mean-area"),
    ],
)
def test_label_values(value: object, label: str) -> None:
    assert lineage.label_value("key", value) == label


def test_a_value_that_cannot_be_a_label_names_its_key() -> None:
    with pytest.raises(PackageError, match=r"params\.train\.offset: -1"):
        lineage.label_value("params.train.offset", -1)


# --- lineage --------------------------------------------------------------------------------


def test_data_record_comes_from_the_stage_that_writes_the_table(tmp_path: Path) -> None:
    inputs = write_inputs(tmp_path)
    lock = lineage.read_lock(inputs.lock)
    record = lineage.data_record(lock, load_params().ingest.output)
    assert record.md5 == inputs.data_md5
    assert lineage.pipeline_outputs(lock) == sorted(
        [load_params().ingest.output, "models/model.joblib"]
    )
    with pytest.raises(PackageError, match=r"no md5 for data/other\.csv"):
        lineage.data_record(lock, "data/other.csv")


def test_missing_or_broken_inputs_say_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match=r"dvc\.lock not found: run `dvc repro`"):
        lineage.read_lock(tmp_path / "dvc.lock")
    (tmp_path / "metrics.json").write_text('{"accuracy": "high"}')
    with pytest.raises(PackageError, match="metric name -> number"):
        lineage.read_metrics(tmp_path / "metrics.json")
    with pytest.raises(PackageError, match=r"model\.joblib not found"):
        lineage.file_md5(tmp_path / "model.joblib")


def test_git_commit_is_uncommitted_unless_the_tree_matches_a_commit(tmp_path: Path) -> None:
    outputs = ["models/model.joblib"]
    git(tmp_path, "init", "-q")
    (tmp_path / "params.yaml").write_text("a: 1\n")
    assert lineage.git_commit(tmp_path, outputs) == lineage.UNCOMMITTED  # no commit yet

    (tmp_path / "dvc.lock").write_text("stages: {}\n")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "model.joblib").write_text("v1")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "first")
    head = git(tmp_path, "rev-parse", "HEAD").strip()
    assert lineage.git_commit(tmp_path, outputs) == head

    # `dvc repro` rewrites its lock and outputs: still the commit's code and params.
    (tmp_path / "dvc.lock").write_text("stages: {train: {}}\n")
    (tmp_path / "models" / "model.joblib").write_text("v2")
    assert lineage.git_commit(tmp_path, outputs) == head

    # Committing only the build's outputs keeps naming the sources' commit, so the next build
    # (a fresh clone's) labels the bento the same way and its tag does not change.
    git(tmp_path, "commit", "-q", "-am", "outputs")
    assert lineage.git_commit(tmp_path, outputs) == head

    (tmp_path / "params.yaml").write_text("a: 2\n")
    assert lineage.git_commit(tmp_path, outputs) == lineage.UNCOMMITTED
    git(tmp_path, "checkout", "-q", "params.yaml")
    (tmp_path / "new_module.py").write_text("")
    assert lineage.git_commit(tmp_path, outputs) == lineage.UNCOMMITTED


def test_tool_output_and_ignored_files_leave_the_commit(tmp_path: Path) -> None:
    """`dvc plots diff` leaves an untracked dvc_plots/ behind; it and ignored files don't make
    the sources uncommitted (the bento tag would change), a new module or a deleted file does."""
    git(tmp_path, "init", "-q")
    (tmp_path / ".gitignore").write_text("/.pr-report/\n")
    (tmp_path / "params.yaml").write_text("a: 1\n")
    (tmp_path / "ml" / "core").mkdir(parents=True)
    (tmp_path / "ml" / "core" / "__init__.py").write_text("")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "first")
    head = git(tmp_path, "rev-parse", "HEAD").strip()

    (tmp_path / "dvc_plots").mkdir()  # not ignored: a fork's .gitignore may not list it
    (tmp_path / "dvc_plots" / "index.html").write_text("<html></html>")
    (tmp_path / "dvc_plots" / "vega.min.js").write_text("")
    (tmp_path / ".pr-report").mkdir()
    (tmp_path / ".pr-report" / "comment.md").write_text("report")
    (tmp_path / ".pr-report" / "helper.py").write_text("")  # ignored, even as a module
    (tmp_path / "ml" / "core" / "notes.txt").write_text("the bento carries only modules")
    assert lineage.git_commit(tmp_path) == head

    new_module = tmp_path / "ml" / "core" / "extra.py"  # the bento would carry it
    new_module.write_text("")
    assert lineage.git_commit(tmp_path) == lineage.UNCOMMITTED
    new_module.unlink()
    (tmp_path / "ml" / "core" / "__init__.py").unlink()
    assert lineage.git_commit(tmp_path) == lineage.UNCOMMITTED


def test_the_bento_holds_the_modules_the_service_imports() -> None:
    sources = bento_build.bento_sources()
    assert {
        "ml/serving/service.py",
        "ml/core/params.py",
        "ml/core/features.py",
        "ml/core/identity.py",
    } <= set(sources)
    assert {"ml/__init__.py", "params.yaml", "ml/core/__init__.py"} <= set(sources)
    # The drift CronJob runs `python -m ml.monitoring.drift` from the same image.
    assert {
        "ml/monitoring/drift.py",
        "ml/monitoring/report.py",
        "ml/serving/prediction_log.py",
    } <= set(sources)
    assert "pandas" in bento_build.PACKAGES
    assert "ml/pipeline/package.py" not in sources
    assert all((REPO_ROOT / source).is_file() for source in sources)


def test_only_an_xgboost_model_s_bento_carries_xgboost_pinned() -> None:
    forest = bento_build.pinned_packages(RandomForestClassifier())
    boosted = bento_build.pinned_packages(XGBClassifier())

    assert f"scikit-learn=={version('scikit-learn')}" in forest
    assert not any(pin.startswith("xgboost") for pin in forest)
    assert boosted == [*forest, f"xgboost=={version('xgboost')}"]


# --- model card -----------------------------------------------------------------------------


def facts(**changes: object) -> CardFacts:
    base = {
        "model_name": "clf",
        "bento_tag": "clf:b1",
        "model_tag": "clf:m1",
        "model_params": {"type": "hist_gradient_boosting", "max_depth": None},
        "trained_on": "cpu",
        "metrics": METRICS,
        "thresholds": {"accuracy": 0.98, "roc_auc": 0.97},
        "git_commit": "c" * 40,
        "data_path": "data/raw/breast_cancer.csv",
        "data_md5": "d" * 32,
        "data_bytes": 120381,
        "cost_labels": {"project": "p", "environment": "dev", "team": "t", "cost-center": "cc"},
    }
    return CardFacts(**{**base, **changes})  # type: ignore[arg-type]


def test_model_card_sections_and_metrics_against_thresholds() -> None:
    card = render(facts())
    for heading in ("Intended use", "Data", "Evaluation", "Lineage", "Cost allocation"):
        assert f"## {heading}" in card
    assert "| accuracy | 0.9700 | 0.9800 | **below** |" in card
    assert "| roc_auc | 0.9900 | 0.9700 | pass |" in card
    assert "| f1 | 0.9750 | - | - |" in card
    assert "| `max_depth` | `null` |" in card
    assert "| cost-center | cc |" in card
    assert "c" * 40 in card and "d" * 32 in card and "120,381 bytes" in card
    assert "bentoml serve clf:b1 --port 3000" in card and "make serve PORT=3000" in card
    assert "uncommitted (built from a working tree" in render(facts(git_commit="uncommitted"))


def test_model_card_records_the_device_the_model_trained_on() -> None:
    boosted = {"type": "xgboost", "device": "auto"}
    card = render(facts(model_params=boosted, trained_on="cuda"))

    assert "Trained on: `cuda`. The service predicts on the CPU." in card
    assert "| `device` | `auto` |" in card
    assert "Trained on: `cpu`." in render(facts())


# --- the stage, for real --------------------------------------------------------------------


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Inputs, Path, dict]:
    inputs = write_inputs(tmp_path_factory.mktemp("package"))
    reports = inputs.root / "reports"
    return inputs, reports, run_package(inputs, reports)


@pytest.mark.slow
def test_package_builds_a_bento_with_lineage_and_cost_labels(packaged: tuple) -> None:
    inputs, _, record = packaged
    name = load_params().package.model_name
    assert record["bento"].startswith(f"{name}:") and record["model"].startswith(f"{name}:")

    bento = yaml.safe_load((bento_dir(inputs, record["bento"]) / "bento.yaml").read_text())
    labels = bento["labels"]
    assert labels == record["labels"]
    assert {key: labels[key] for key in COST_LABEL_KEYS} == load_identity().cost_labels()
    lock = lineage.read_lock(inputs.lock)
    assert labels["git-commit"] == lineage.git_commit(REPO_ROOT, lineage.pipeline_outputs(lock))
    assert labels["data-md5"] == inputs.data_md5
    assert labels["model-md5"] == md5(inputs.model)
    assert labels["metrics.accuracy"] == str(yaml.safe_load(inputs.metrics.read_text())["accuracy"])
    assert labels["params.train.model.type"] == load_params().train.model.type
    assert labels["trained-on"] == "cpu"  # a scikit-learn model
    model_version = record["model"].split(":")[1]
    model = yaml.safe_load(
        (inputs.bentoml_home / "models" / name / model_version / "model.yaml").read_text()
    )
    assert model["labels"]["trained-on"] == "cpu"
    assert all(K8S_LABEL.match(key) and K8S_LABEL.match(value) for key, value in labels.items())
    # The bento pins its model under the name the service loads.
    assert bento["models"][0]["tag"] == record["model"]
    assert bento["models"][0]["alias"] == name


@pytest.mark.slow
def test_the_bento_is_self_contained_and_pinned(packaged: tuple) -> None:
    inputs, _, record = packaged
    root = bento_dir(inputs, record["bento"])
    assert {path.relative_to(root / "src").as_posix() for path in (root / "src").rglob("*.py")} == {
        path for path in bento_build.bento_sources() if path.endswith(".py")
    }
    assert (root / "src" / "params.yaml").read_text() == (REPO_ROOT / "params.yaml").read_text()
    requirements = (root / "env" / "python" / "requirements.txt").read_text().split()
    assert set(bento_build.pinned_packages(joblib.load(inputs.model))) <= set(requirements)
    assert not any(line.startswith("xgboost") for line in requirements)
    assert any(line.startswith("bentoml==") for line in requirements)
    envs = {
        env["name"]: env["value"]
        for env in yaml.safe_load((root / "bento.yaml").read_text())["envs"]
    }
    assert envs["OMP_NUM_THREADS"] == "1"


@pytest.mark.slow
def test_model_card_and_record_are_written_and_reproducible(packaged: tuple) -> None:
    inputs, reports, record = packaged
    card = (reports / "model_card.md").read_text()
    assert record["bento"] in card and record["model"] in card
    assert inputs.data_md5 in card
    assert "Trained on: `cpu`." in card
    for key, value in load_identity().cost_labels().items():
        assert f"| {key} | {value} |" in card
    # The bento's own description is the card.
    assert (bento_dir(inputs, record["bento"]) / "README.md").read_text() == card

    again = inputs.root / "again"
    assert run_package(inputs, again) == record  # same inputs, same tags
    assert (again / "model_card.md").read_text() == card


def test_the_package_stage_depends_on_every_bento_source() -> None:
    # A module the bento carries but dvc.yaml does not list would leave a stale bento.
    import yaml

    stage = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"][
        "package"
    ]
    assert set(bento_build.BUNDLED_PACKAGES) <= set(stage["deps"])
    stage_modules = {"package", "lineage", "bento_build", "model_card"}
    assert {"ml/__init__.py", *(f"ml/pipeline/{name}.py" for name in stage_modules)} <= set(
        stage["deps"]
    )
    modules = {path for path in bento_build.bento_sources() if path.endswith(".py")}
    assert all(
        path == "ml/__init__.py" or path.startswith(bento_build.BUNDLED_PACKAGES)
        for path in modules
    )
