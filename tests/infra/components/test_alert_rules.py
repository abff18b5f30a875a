"""The alert rules and the dashboard's queries, checked and run by the real promtool.

promtool ships with Debian's `prometheus` package. Without it these tests skip on a laptop and
fail in CI (CI=true), where a missing tool must not pass silently.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.components.monitoring.alert_rules import (
    DASHBOARDS_DIR,
    MONITORING_DIR,
    RULES_DIR,
    THRESHOLD_PREFIX,
    MonitoringError,
    check_thresholds,
    default_thresholds,
    load_rule_files,
    render_rules,
)
from tests.support.paths import TEST_DATA

PROMTOOL_TESTS = TEST_DATA / "promtool"
RUNBOOKS = MONITORING_DIR / "README.md"
SEVERITIES = {"critical", "warning", "info"}


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing (apt-get install -y prometheus)")
        pytest.skip("promtool not installed (apt-get install -y prometheus)")
    return path


def run_promtool(promtool: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


def alerts() -> dict[str, dict[str, Any]]:
    return {
        rule["alert"]: rule
        for document in load_rule_files().values()
        for group in document["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def test_rule_files_pass_promtool_check(promtool: str) -> None:
    result = run_promtool(promtool, "check", "rules", *sorted(RULES_DIR.glob("*.yaml")))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "test_file", sorted(PROMTOOL_TESTS.glob("*.test.yaml")), ids=lambda p: p.name
)
def test_promtool_unit_tests(promtool: str, test_file: Path) -> None:
    result = run_promtool(promtool, "test", "rules", test_file)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_file_has_unit_tests() -> None:
    tested = {
        (PROMTOOL_TESTS / name).resolve()
        for test_file in PROMTOOL_TESTS.glob("*.test.yaml")
        for name in yaml.safe_load(test_file.read_text())["rule_files"]
    }
    assert tested == {path.resolve() for path in RULES_DIR.glob("*.yaml")}


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for test_file in PROMTOOL_TESTS.glob("*.test.yaml"):
        for case in yaml.safe_load(test_file.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert set(alerts()) - firing == set(), "alerts without a test that fires them"
    assert set(alerts()) - quiet == set(), "alerts without a test where they stay silent"


def _anchors(markdown: str) -> set[str]:
    # GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes.
    return {
        re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE)
    }


@pytest.mark.parametrize("name", sorted(alerts()))
def test_alert_has_severity_summary_and_runbook(name: str) -> None:
    rule = alerts()[name]
    assert rule["labels"]["severity"] in SEVERITIES
    assert rule["annotations"]["summary"].strip()
    path, _, anchor = rule["annotations"]["runbook"].partition("#")
    assert (MONITORING_DIR.parents[2] / path).resolve() == RUNBOOKS
    assert anchor == name.lower()
    assert anchor in _anchors(RUNBOOKS.read_text())


def test_default_thresholds_are_read_from_the_rule_files() -> None:
    assert default_thresholds() == {
        "error_ratio": 0.05,
        "latency_p95_seconds": 0.5,
        "class_share": 0.95,
        "class_skew_min_predictions": 100.0,
        "pod_restarts": 2.0,
        "drift_check_max_age_hours": 3.0,
        "gpu_util_low_percent": 10.0,
        "gpu_memory_ratio": 0.9,
    }


def test_every_threshold_is_used_by_an_alert() -> None:
    expressions = " ".join(rule["expr"] for rule in alerts().values())
    for name in default_thresholds():
        assert f"scalar({THRESHOLD_PREFIX}{name})" in expressions


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"error_rate": 0.1}, "monitoring.alertThresholds.error_rate: no such threshold"),
        ({"error_ratio": 1.5}, "monitoring.alertThresholds.error_ratio: must be in (0, 1]"),
        ({"gpu_util_low_percent": 0}, "alertThresholds.gpu_util_low_percent: must be in (0, 100]"),
        ({"pod_restarts": float("nan")}, "monitoring.alertThresholds.pod_restarts: must be in"),
    ],
)
def test_bad_thresholds_name_the_key(overrides: dict[str, float], message: str) -> None:
    with pytest.raises(MonitoringError, match=re.escape(message)):
        check_thresholds(overrides)


def test_rendering_changes_only_the_overridden_thresholds() -> None:
    original = load_rule_files()
    rendered = render_rules({"error_ratio": 0.2}, "https://example.org/repo")
    exprs = {
        rule.get("record") or rule["alert"]: rule["expr"]
        for document in rendered.values()
        for group in document["groups"]
        for rule in group["rules"]
    }
    before = {
        rule.get("record") or rule["alert"]: rule["expr"]
        for document in original.values()
        for group in document["groups"]
        for rule in group["rules"]
    }
    assert exprs.pop(f"{THRESHOLD_PREFIX}error_ratio") == "vector(0.2)"
    before.pop(f"{THRESHOLD_PREFIX}error_ratio")
    assert exprs == before
    rule = next(
        r
        for g in rendered["model-service"]["groups"]
        for r in g["rules"]
        if r.get("alert") == "ModelErrorRatioHigh"
    )
    assert rule["annotations"]["runbook_url"] == (
        "https://example.org/repo/infra/components/monitoring/README.md#modelerrorratiohigh"
    )


def test_an_overridden_threshold_changes_what_fires(promtool: str, tmp_path: Path) -> None:
    """10% errors fire at the default 5% (the unit tests) and stay silent at a 20% threshold."""
    rendered = render_rules({"error_ratio": 0.2}, "https://example.org/repo")
    rules = tmp_path / "model-service.yaml"
    rules.write_text(yaml.safe_dump(rendered["model-service"]))
    check = run_promtool(promtool, "check", "rules", rules)
    assert check.returncode == 0, check.stdout + check.stderr

    suite = yaml.safe_load((PROMTOOL_TESTS / "model-service.test.yaml").read_text())
    firing_case = suite["tests"][0]
    assert firing_case["alert_rule_test"][-1]["exp_alerts"], "the first case must fire"
    for expectation in firing_case["alert_rule_test"]:
        expectation["exp_alerts"] = []
    test_file = tmp_path / "override.test.yaml"
    test_file.write_text(
        yaml.safe_dump(
            {"rule_files": [rules.name], "evaluation_interval": "1m", "tests": [firing_case]}
        )
    )
    result = run_promtool(promtool, "test", "rules", test_file)
    assert result.returncode == 0, result.stdout + result.stderr


# --- The dashboard's queries ------------------------------------------------------------------

GRAFANA_VARIABLES = {"$__rate_interval": "5m", '"$namespace"': '".*"'}


def dashboard_queries() -> dict[str, str]:
    """Each panel target's PromQL, Grafana variables filled in, by `<panel title>/<refId>`."""
    queries: dict[str, str] = {}
    for path in DASHBOARDS_DIR.glob("*.json"):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                expr = target["expr"]
                for variable, value in GRAFANA_VARIABLES.items():
                    expr = expr.replace(variable, value)
                assert "$" not in expr, f"unhandled Grafana variable in {expr}"
                queries[f"{panel['title']}/{target['refId']}"] = expr
    return queries


def test_dashboard_queries_parse(promtool: str, tmp_path: Path) -> None:
    rules = [
        {"record": f"dashboard:query_{i}", "expr": expr}
        for i, expr in enumerate(dashboard_queries().values())
    ]
    path = tmp_path / "dashboard.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run_promtool(promtool, "check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


# Input series for the panels that join kube-state-metrics' labels: two GPU pools, a canary.
DASHBOARD_SERIES = [
    ('DCGM_FI_DEV_GPU_UTIL{node="n1", gpu="0"}', "20+0x10"),
    ('DCGM_FI_DEV_GPU_UTIL{node="n1", gpu="1"}', "40+0x10"),
    ('DCGM_FI_DEV_GPU_UTIL{node="n2", gpu="0"}', "90+0x10"),
    ('DCGM_FI_DEV_FB_USED{node="n1", gpu="0"}', "1000+0x10"),
    ('DCGM_FI_DEV_FB_FREE{node="n1", gpu="0"}', "3000+0x10"),
    ('DCGM_FI_DEV_FB_USED{node="n1", gpu="1"}', "3000+0x10"),
    ('DCGM_FI_DEV_FB_FREE{node="n1", gpu="1"}', "1000+0x10"),
    ('DCGM_FI_DEV_FB_USED{node="n2", gpu="0"}', "900+0x10"),
    ('DCGM_FI_DEV_FB_FREE{node="n2", gpu="0"}', "100+0x10"),
    ('kube_node_labels{node="n1", label_node_pool="gpu-inference"}', "1+0x10"),
    ('kube_node_labels{node="n2", label_node_pool="gpu-training"}', "1+0x10"),
    ('kube_node_labels{node="n3", label_node_pool="system"}', "1+0x10"),
    ('kube_pod_labels{namespace="serving", pod="a", label_model_version="v1"}', "1+0x10"),
    ('kube_pod_labels{namespace="serving", pod="b", label_model_version="v1"}', "1+0x10"),
    ('kube_pod_labels{namespace="serving", pod="c", label_model_version="v2"}', "1+0x10"),
    ('kube_pod_labels{namespace="serving", pod="d", label_model_version="v2"}', "1+0x10"),
    ('kube_pod_labels{namespace="monitoring", pod="grafana"}', "1+0x10"),
    ('kube_pod_status_ready{namespace="serving", pod="a", condition="true"}', "1+0x10"),
    ('kube_pod_status_ready{namespace="serving", pod="b", condition="true"}', "1+0x10"),
    ('kube_pod_status_ready{namespace="serving", pod="c", condition="true"}', "1+0x10"),
    ('kube_pod_status_ready{namespace="serving", pod="d", condition="true"}', "0+0x10"),
    ('kube_pod_status_ready{namespace="monitoring", pod="grafana", condition="true"}', "1+0x10"),
]
# Computed by hand from the series above.
DASHBOARD_EXPECTED = {
    "GPU utilisation per pool/A": [
        ('{label_node_pool="gpu-inference"}', 30),
        ('{label_node_pool="gpu-training"}', 90),
    ],
    "GPU memory used per pool/A": [
        ('{label_node_pool="gpu-inference"}', 0.5),
        ('{label_node_pool="gpu-training"}', 0.9),
    ],
    "Ready replicas per model version/A": [
        ('{label_model_version="v1"}', 2),
        ('{label_model_version="v2"}', 1),
    ],
}


def test_dashboard_joins_return_what_they_should(promtool: str, tmp_path: Path) -> None:
    queries = dashboard_queries()
    empty_rules = tmp_path / "none.yaml"
    empty_rules.write_text("groups: []\n")
    suite = {
        "rule_files": [empty_rules.name],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in DASHBOARD_SERIES],
                "promql_expr_test": [
                    {
                        "expr": queries[key],
                        "eval_time": "5m",
                        "exp_samples": [
                            {"labels": labels, "value": value} for labels, value in exp
                        ],
                    }
                    for key, exp in DASHBOARD_EXPECTED.items()
                ],
            }
        ],
    }
    test_file = tmp_path / "dashboard.test.yaml"
    test_file.write_text(yaml.safe_dump(suite))
    result = run_promtool(promtool, "test", "rules", test_file)
    assert result.returncode == 0, result.stdout + result.stderr


# --- Metric names against the installed BentoML ------------------------------------------------


def bentoml_metric_names() -> set[str]:
    """The series BentoML's server exports, from the installed version's own definitions."""
    os.environ.setdefault("BENTOML_HOME", str(MONITORING_DIR.parents[2] / ".bentoml"))
    from _bentoml_impl.server import app as service_app
    from bentoml._internal.configuration import v2
    from bentoml._internal.server.http import instruments

    # `@bentoml.service` services load the version-2 defaults.
    defaults = yaml.safe_load((Path(v2.__file__).parent / "default_configuration.yaml").read_text())
    namespace = defaults["services"]["metrics"]["namespace"]
    source = inspect.getsource(instruments) + inspect.getsource(service_app)
    names: set[str] = set()
    for base in re.findall(r'name="([a-z_]+)"', source):
        full = f"{namespace}_{base}"
        names |= {full, f"{full}_bucket", f"{full}_sum", f"{full}_count"}
    return names


def test_bentoml_metrics_in_rules_and_dashboard_exist() -> None:
    texts = [path.read_text() for path in RULES_DIR.glob("*.yaml")]
    texts += list(dashboard_queries().values())
    used = {name for text in texts for name in re.findall(r"\bbentoml_[a-z_]+\b", text)}
    assert used, "the rules and the dashboard use BentoML's metrics"
    assert used <= bentoml_metric_names()


def test_dashboard_panels_are_complete() -> None:
    for path in DASHBOARDS_DIR.glob("*.json"):
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"]
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids))
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            refs = [t["refId"] for t in panel["targets"]]
            assert refs and len(refs) == len(set(refs)), panel["title"]
            assert all(t["expr"].strip() for t in panel["targets"]), panel["title"]


def test_gpu_capacity_is_spoken_of_as_karpenter_nodepools() -> None:
    """GPU nodes come from Karpenter NodePools: no rule, panel or runbook sends anyone to the
    cluster autoscaler or to a managed node group."""
    files = [*RULES_DIR.glob("*.yaml"), *DASHBOARDS_DIR.glob("*.json"), RUNBOOKS]
    stale = re.compile(r"cluster[ -]autoscaler|node[ -]?groups?\b", re.IGNORECASE)
    assert {path.name: stale.findall(path.read_text()) for path in files} == {
        path.name: [] for path in files
    }
    assert "NodePool" in RUNBOOKS.read_text()
