"""The canary Rollout's spec and the AnalysisTemplate (PromQL) that gates each of its steps."""

from __future__ import annotations

from typing import Any

import pulumi

from infra.components.serving.args import ServingArgs
from infra.components.serving.names import LATENCY_METRIC, REQUESTS_METRIC
from infra.components.serving.pod import pod_template
from infra.helpers.labels import NAME_LABEL, POD_HASH_LABEL

# Probes and scrapes are not user traffic: they would dilute the error ratio and the latency.
_NOT_TRAFFIC = 'endpoint!~"/(livez|readyz|healthz|metrics)"'


def _canary_selector(args: ServingArgs, hash_arg: str) -> str:
    return (
        f'namespace="{args.settings.namespace}", {POD_HASH_LABEL.replace("-", "_")}="{hash_arg}", '
        f"{_NOT_TRAFFIC}"
    )


def analysis_queries(args: ServingArgs, hash_arg: str = "{{args.canary-hash}}") -> dict[str, str]:
    """PromQL for the canary pods' 5xx ratio and p95 latency over the last two minutes."""
    sel = _canary_selector(args, hash_arg)
    window = f"{max(2 * args.settings.analysis_interval_s, 120)}s"
    return {
        "error-ratio": (
            f'sum(rate({REQUESTS_METRIC}{{{sel}, http_response_code=~"5.."}}[{window}]))'
            f" / sum(rate({REQUESTS_METRIC}{{{sel}}}[{window}]))"
        ),
        "p95-latency": (
            f"histogram_quantile(0.95, sum by (le) (rate({LATENCY_METRIC}{{{sel}}}[{window}])))"
        ),
    }


def _success(threshold: float) -> str:
    # No traffic yet gives an empty vector or NaN (0/0): nothing is wrong, so the step passes.
    return f"len(result) == 0 || isNaN(result[0]) || result[0] <= {threshold}"


def analysis_template_spec(args: ServingArgs) -> dict[str, Any]:
    queries = analysis_queries(args)
    gate = args.settings
    thresholds = {"error-ratio": gate.max_error_ratio, "p95-latency": gate.max_p95_latency_s}
    return {
        "args": [{"name": "canary-hash"}],
        "metrics": [
            {
                "name": name,
                "interval": f"{gate.analysis_interval_s}s",
                "count": gate.analysis_count,
                "failureLimit": gate.failure_limit,
                "successCondition": _success(thresholds[name]),
                "provider": {"prometheus": {"address": args.prometheus_url, "query": query}},
            }
            for name, query in queries.items()
        ],
    }


def rollout_spec(
    args: ServingArgs, service_account: str, template_name: str, bucket: pulumi.Input[str]
) -> dict[str, Any]:
    """Canary 10% → analysis → 50% → analysis → 100%; a failed analysis aborts and rolls back."""
    analysis = {
        "analysis": {
            "templates": [{"templateName": template_name}],
            "args": [{"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}],
        }
    }
    return {
        # No `replicas`: the HPA owns the count, and a value here would undo its scaling on
        # every `pulumi up`.
        "revisionHistoryLimit": 3,
        "selector": {"matchLabels": {NAME_LABEL: args.model_name}},
        "progressDeadlineSeconds": 600,
        # A canary stuck (crash-looping, unschedulable) aborts like a failed analysis.
        "progressDeadlineAbort": True,
        "strategy": {
            "canary": {
                "stableService": args.model_name,
                "canaryService": f"{args.model_name}-canary",
                "maxSurge": "25%",
                "maxUnavailable": 0,
                "steps": [
                    {"setWeight": 10},
                    analysis,
                    {"setWeight": 50},
                    analysis,
                    {"setWeight": 100},
                ],
            }
        },
        "template": pod_template(args, service_account, bucket),
    }
