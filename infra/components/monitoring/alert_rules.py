"""The alert rule files in this package's rules/: their thresholds and their stack-specific copy.

Each threshold is a `mlops:threshold:<name>` recording rule holding a constant; a stack's
`monitoring.alertThresholds` replaces only those constants, so the files in the repository keep
the defaults and stay checkable by promtool as they are. No Pulumi here: the stack settings
(infra/settings/monitoring.py) check threshold names before any resource is declared.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

MONITORING_DIR = Path(__file__).resolve().parent
RULES_DIR = MONITORING_DIR / "rules"
DASHBOARDS_DIR = MONITORING_DIR / "dashboards"
THRESHOLD_PREFIX = "mlops:threshold:"
THRESHOLDS_KEY = "monitoring.alertThresholds"
_THRESHOLD_EXPR = re.compile(r"^\s*vector\(\s*([0-9.eE+-]+)\s*\)\s*$")


class MonitoringError(ValueError):
    """A threshold or rule file is wrong; the message names the key or the file."""


def load_rule_files() -> dict[str, dict[str, Any]]:
    """Every rule file in infra/components/monitoring/rules, parsed, by file stem."""
    return {
        path.stem: yaml.safe_load(path.read_text(encoding="utf-8"))
        for path in sorted(RULES_DIR.glob("*.yaml"))
    }


def _threshold_rules(files: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        rule
        for document in files.values()
        for group in document["groups"]
        for rule in group["rules"]
        if str(rule.get("record", "")).startswith(THRESHOLD_PREFIX)
    ]


@cache
def default_thresholds() -> dict[str, float]:
    """The thresholds the rule files hold, by name (`error_ratio`, ...)."""
    defaults: dict[str, float] = {}
    for rule in _threshold_rules(load_rule_files()):
        match = _THRESHOLD_EXPR.match(rule["expr"])
        if match is None:
            raise MonitoringError(f"{rule['record']}: expr must be vector(<number>)")
        defaults[rule["record"].removeprefix(THRESHOLD_PREFIX)] = float(match.group(1))
    return defaults


def _bounds(name: str) -> tuple[float, float]:
    # Names say their unit: ratios and shares are fractions, percentages are 0-100.
    if name.endswith(("_ratio", "_share")):
        return 0.0, 1.0
    if name.endswith("_percent"):
        return 0.0, 100.0
    return 0.0, math.inf


def threshold_problems(overrides: Mapping[str, float]) -> dict[str, str]:
    """What is wrong with each overridden threshold, by name (empty when all are fine)."""
    known = default_thresholds()
    problems: dict[str, str] = {}
    for name, value in overrides.items():
        low, high = _bounds(name)
        if name not in known:
            problems[name] = f"no such threshold; known: {', '.join(sorted(known))}"
        elif not (math.isfinite(value) and low < value <= high):
            problems[name] = f"must be in ({low:g}, {high:g}], got {value!r}"
    return problems


def check_thresholds(overrides: Mapping[str, float]) -> dict[str, float]:
    """The overrides, checked against the names the rule files define and each one's range."""
    problems = threshold_problems(overrides)
    if problems:
        raise MonitoringError(
            "; ".join(f"{THRESHOLDS_KEY}.{name}: {why}" for name, why in problems.items())
        )
    return dict(overrides)


def render_rules(overrides: Mapping[str, float], runbook_base: str) -> dict[str, dict[str, Any]]:
    """The rule files with the stack's thresholds and a clickable `runbook_url` on each alert."""
    check_thresholds(overrides)
    files = copy.deepcopy(load_rule_files())
    for rule in _threshold_rules(files):
        name = rule["record"].removeprefix(THRESHOLD_PREFIX)
        if name in overrides:
            rule["expr"] = f"vector({float(overrides[name])!r})"
    for document in files.values():
        for group in document["groups"]:
            for rule in group["rules"]:
                annotations = rule.get("annotations", {})
                if "runbook" in annotations:
                    annotations["runbook_url"] = f"{runbook_base}/{annotations['runbook']}"
    return files


def load_dashboards() -> dict[str, str]:
    """Every Grafana dashboard in infra/components/monitoring/dashboards, as text, by file stem."""
    return {
        path.stem: path.read_text(encoding="utf-8")
        for path in sorted(DASHBOARDS_DIR.glob("*.json"))
    }
