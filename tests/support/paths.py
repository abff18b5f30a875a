"""Where the tests' own data lives (CRD schemas, recorded plans, promtool tests)."""

from __future__ import annotations

from ml.core.paths import REPO_ROOT

TEST_DATA = REPO_ROOT / "tests" / "data"
