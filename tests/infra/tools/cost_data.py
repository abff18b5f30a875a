"""Shared data for the cost tool's tests: the fixture plans, their price table and their bill.

tests/data/plans/prices.yaml holds round prices so the expected totals below can be checked with
pencil and paper; tests/data/plans/small.json is a stack in miniature (cluster, NAT, a Spot system
pool with a launch template, a GPU pool, buckets, key, logs, registry, a Prometheus volume).
"""

from __future__ import annotations

from typing import Any

from infra.tools.cost import Plan, parse_plan
from tests.support.paths import TEST_DATA

DATA = TEST_DATA / "plans"
PRICES = DATA / "prices.yaml"
HOURS = 730

# The fixture's bill, line by line (prices from tests/data/plans/prices.yaml).
CLUSTER = 0.10 * HOURS  # 73.00
NAT = 0.05 * HOURS + 100 * 0.05  # 36.50 hours + 5.00 for the assumed 100 GB
PUBLIC_IP = 0.005 * HOURS  # 3.65
SYSTEM_NODE = 0.01 * HOURS + 30 * 0.10  # Spot t3.medium 7.30 + 30 GiB gp3 from the template
GPU_NODE = 1.00 * HOURS + 100 * 0.10  # on-demand g5.xlarge 730.00 + 100 GiB disk 10.00
BUCKET = 10 * 0.02  # assumed 10 GB each; two buckets
KEY = 1.00
LOGS = 2 * 0.50 + 10 * 0.03  # assumed 2 GB ingested, 10 GB stored
REGISTRY = 5 * 0.10  # assumed 5 GB
PROMETHEUS_VOLUME = 50 * 0.10  # 50Gi gp3 claim in the chart's values

FIXED = CLUSTER + NAT + PUBLIC_IP + 2 * BUCKET + KEY + LOGS + REGISTRY + PROMETHEUS_VOLUME
IDLE = FIXED + 1 * SYSTEM_NODE  # system pool at min 1, GPU pool at 0
TYPICAL = FIXED + 2 * SYSTEM_NODE  # system pool at desired 2, GPU pool at 0
MAX = TYPICAL + 2 * GPU_NODE  # GPU pool at its max 2, system pool as typical


def tiny_plan(region: str, *extra: dict[str, Any], **inputs: Any) -> Plan:
    provider = "urn:pulumi:dev::p::pulumi:providers:aws::aws"
    return parse_plan(
        {
            "stack": "dev",
            "resources": [
                {"urn": provider, "type": "pulumi:providers:aws", "name": "aws",
                 "inputs": {"region": region}},
                {"urn": "urn:pulumi:dev::p::aws:eks/nodeGroup:NodeGroup::pool",
                 "type": "aws:eks/nodeGroup:NodeGroup", "name": "pool",
                 "provider": f"{provider}::id",
                 "inputs": {"instanceTypes": ["t3.medium"], "capacityType": "ON_DEMAND",
                            "scalingConfig": {"minSize": 1, "desiredSize": 1, "maxSize": 1},
                            **inputs}},
                *extra,
            ],
        },
        "tiny",
    )  # fmt: skip
