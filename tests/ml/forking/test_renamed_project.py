"""The renamed project is a working project: its own code plans the stack and tests green."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ml.core.paths import REPO_ROOT
from tests.ml.forking.renaming import NEW, OLD


@pytest.mark.slow
def test_the_renamed_project_plans_and_tests_green(renamed: Path) -> None:
    """The renamed copy's own code, not this tree's, plans the stack and passes its tests."""
    env = {**os.environ, "PYTHONPATH": str(renamed)}
    env.pop("BENTOML_HOME", None)
    if (renamed / "infra" / "tools" / "plan.py").is_file():
        plan = subprocess.run(
            [sys.executable, "-m", "infra.tools.plan", "--stack", "dev", "--format", "json"],
            cwd=renamed,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        text = plan.stdout
        assert OLD.name not in text
        assert OLD.repository not in text
        resources = json.loads(text)["resources"]
        (provider,) = [r["inputs"] for r in resources if r["type"] == "pulumi:providers:aws"]
        assert provider["region"] == NEW.region
        tags = json.loads(provider["defaultTags"])["tags"]
        assert {k: tags[k] for k in ("project", "team", "cost-center", "repository")} == {
            "project": NEW.name,
            "team": NEW.team,
            "cost-center": NEW.cost_center,
            "repository": NEW.repository,
        }
        buckets = [r["inputs"]["bucket"] for r in resources if r["type"] == "aws:s3/bucket:Bucket"]
        assert buckets
        assert all(b.startswith(f"{NEW.name}-dev-") for b in buckets)
        # GitHub's OIDC tokens of the new repository, and only those, may assume the CI roles.
        assert f"repo:{NEW.repository}:" in text
    # Fast tests that read the identity: this folder (the fork can be renamed again) and the
    # budget's names; the full suite runs in the fork's own CI.
    subset = [
        str(Path(__file__).parent.relative_to(REPO_ROOT)),
        "tests/infra/components/test_budget.py",
    ]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow", *subset],
        cwd=renamed,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert re.search(r"\d+ passed", result.stdout)
