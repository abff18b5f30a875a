"""The repository's DVC configuration: a local remote inside each clone, no analytics."""

from __future__ import annotations

from dvc.config import Config

from ml.core.paths import REPO_ROOT


def test_the_project_config() -> None:
    config = Config(dvc_dir=REPO_ROOT / ".dvc").load_one("repo")

    assert config["core"] == {"remote": "local", "autostage": "false", "analytics": "false"}
    # Written relative to .dvc/ (see the copies' round trip below), so every clone has its own.
    assert config["remote"]["local"]["url"] == str(REPO_ROOT / ".dvc" / "storage")
    assert "/storage" in (REPO_ROOT / ".dvc" / ".gitignore").read_text(encoding="utf-8")
