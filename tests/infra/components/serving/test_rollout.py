"""The canary rollout, its analysis against Prometheus, its scaling and its controller."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from infra.components import serving
from infra.components.serving import (
    analysis_queries,
)
from infra.helpers.charts import ARGO_ROLLOUTS
from tests.infra.components.serving.objects import (
    MODEL,
    PROGRAM,
    serving_args,
)


def test_pulumi_waits_for_a_healthy_rollout(cpu: dict) -> None:
    annotations = cpu["Rollout"]["metadata"]["annotations"]
    assert annotations["pulumi.com/waitFor"] == "jsonpath={.status.phase}=Healthy"
    assert annotations["pulumi.com/timeoutSeconds"] == "1800"


def test_canary_steps_gate_each_weight_on_the_analysis(cpu: dict) -> None:
    canary = cpu["Rollout"]["spec"]["strategy"]["canary"]
    assert canary["stableService"] == MODEL
    assert canary["canaryService"] == f"{MODEL}-canary"
    assert {f"Service/{MODEL}", f"Service/{MODEL}-canary"} <= set(cpu)
    steps = canary["steps"]
    assert [next(iter(step)) for step in steps] == [
        "setWeight",
        "analysis",
        "setWeight",
        "analysis",
        "setWeight",
    ]
    assert [s["setWeight"] for s in steps if "setWeight" in s] == [10, 50, 100]
    template_name = cpu["AnalysisTemplate"]["metadata"]["name"]
    for step in (steps[1], steps[3]):
        assert step["analysis"]["templates"] == [{"templateName": template_name}]
        assert step["analysis"]["args"] == [
            {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}
        ]
    assert cpu["Rollout"]["spec"]["progressDeadlineAbort"] is True
    assert "replicas" not in cpu["Rollout"]["spec"]


def test_analysis_queries_prometheus_with_limits(cpu: dict) -> None:
    metrics = {m["name"]: m for m in cpu["AnalysisTemplate"]["spec"]["metrics"]}
    assert set(metrics) == {"error-ratio", "p95-latency"}
    for metric in metrics.values():
        assert metric["failureLimit"] == 1
        prometheus = metric["provider"]["prometheus"]
        assert prometheus["address"] == PROGRAM["prometheus_url"]
        assert 'rollouts_pod_template_hash="{{args.canary-hash}}"' in prometheus["query"]
    assert metrics["error-ratio"]["successCondition"].endswith("result[0] <= 0.01")
    assert metrics["p95-latency"]["successCondition"].endswith("result[0] <= 0.5")


def test_metric_names_are_the_ones_bentoml_exports() -> None:
    from bentoml._internal.configuration.helpers import get_default_config

    # `@bentoml.service` services load BentoML's version-2 configuration.
    namespace = get_default_config(2)["services"]["metrics"]["namespace"]
    assert f"{namespace}_request_total" == serving.REQUESTS_METRIC
    assert f"{namespace}_request_duration_seconds_bucket" == serving.LATENCY_METRIC


PROMTOOL_TEST = """
rule_files: []
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
{series}
    promql_expr_test:
      - expr: 'round({error_ratio}, 0.001)'
        eval_time: 10m
        exp_samples:
          - labels: '{{}}'
            value: 0.1
      - expr: 'round({latency}, 0.001)'
        eval_time: 10m
        exp_samples:
          - labels: '{{}}'
            value: 0.75
"""


@pytest.mark.skipif(not __import__("shutil").which("promtool"), reason="needs promtool")
def test_queries_compute_the_canary_error_ratio_and_p95(tmp_path: Path) -> None:
    """Canary pods answer 10% 5xx, probes and the stable pods must not count; p95 from buckets."""
    queries = analysis_queries(serving_args(), hash_arg="canary")
    base = 'namespace="serving", rollouts_pod_template_hash="{pod}", endpoint="{path}"'

    def series(metric: str, labels: str, per_minute: int) -> str:
        return f"      - series: '{metric}{{{labels}}}'\n        values: '0+{per_minute}x10'"

    rows = [
        series(
            serving.REQUESTS_METRIC,
            base.format(pod="canary", path="/predict") + ', http_response_code="200"',
            90,
        ),
        series(
            serving.REQUESTS_METRIC,
            base.format(pod="canary", path="/predict") + ', http_response_code="500"',
            10,
        ),
        # Probes to the canary and failures on the stable pods stay out of the ratio.
        series(
            serving.REQUESTS_METRIC,
            base.format(pod="canary", path="/livez") + ', http_response_code="200"',
            1000,
        ),
        series(
            serving.REQUESTS_METRIC,
            base.format(pod="stable", path="/predict") + ', http_response_code="500"',
            1000,
        ),
    ]
    # 100 requests a minute, 90 under 0.5 s and 10 under 1 s: the 95th is halfway into the
    # 0.5-1 s bucket (Prometheus interpolates linearly), 0.75 s.
    for le, count in (("0.5", 90), ("1.0", 100), ("+Inf", 100)):
        labels = base.format(pod="canary", path="/predict") + f', le="{le}"'
        rows.append(series(serving.LATENCY_METRIC, labels, count))
    test_file = tmp_path / "queries_test.yml"
    test_file.write_text(
        PROMTOOL_TEST.format(
            series="\n".join(rows),
            error_ratio=queries["error-ratio"].replace("'", "''"),
            latency=queries["p95-latency"].replace("'", "''"),
        ),
        encoding="utf-8",
    )
    result = subprocess.run(
        ["promtool", "test", "rules", str(test_file)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hpa_scales_the_rollout_and_pdb_keeps_pods(cpu: dict) -> None:
    hpa = cpu["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "name": MODEL,
    }
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)
    assert cpu["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1


def test_controller_chart_is_pinned(cpu: dict) -> None:
    release = cpu["Release"]
    assert release["chart"] == "argo-rollouts"
    assert release["repositoryOpts"] == {"repo": "https://argoproj.github.io/argo-helm"}
    assert release["version"] == ARGO_ROLLOUTS.version
    assert release["version"].count(".") == 2
