"""Where the project's files live, relative to the repository root, and BentoML's home.

Standard library only: the forking tools read it before any dependency is installed.
"""

from __future__ import annotations

import os
from pathlib import Path

# The one definition of the repository root: every other module imports it from here.
REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS_FILE = REPO_ROOT / "params.yaml"

DATA_DIR = REPO_ROOT / "data"
RAW_DIR = DATA_DIR / "raw"
PREPARED_DIR = DATA_DIR / "prepared"
TRAIN_FILE = PREPARED_DIR / "train.csv"
TEST_FILE = PREPARED_DIR / "test.csv"
MODELS_DIR = REPO_ROOT / "models"
MODEL_FILE = MODELS_DIR / "model.joblib"
REPORTS_DIR = REPO_ROOT / "reports"
METRICS_FILE = REPORTS_DIR / "metrics.json"
PLOTS_DIR = REPORTS_DIR / "plots"
VALIDATION_REPORT = REPORTS_DIR / "validation.json"
BENTO_INFO_FILE = REPORTS_DIR / "bento.json"
MODEL_CARD_FILE = REPORTS_DIR / "model_card.md"
DVC_LOCK = REPO_ROOT / "dvc.lock"
DEFAULT_BENTOML_HOME = REPO_ROOT / ".bentoml"
# The request body the README, `make run` and `make bench` send.
SAMPLE_REQUEST = REPO_ROOT / "ml" / "serving" / "sample_request.json"


def use_repo_bentoml_home() -> Path:
    """Keep BentoML's model and bento store inside the repo unless the caller chose another.

    Call before importing bentoml: it reads BENTOML_HOME once, at import.
    """
    home = Path(os.environ.setdefault("BENTOML_HOME", str(DEFAULT_BENTOML_HOME)))
    home.mkdir(parents=True, exist_ok=True)
    return home
