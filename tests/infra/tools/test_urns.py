"""Moving and renaming code must not orphan a deployed resource: every URN the dev and prod plans
declared before the layout changed (tests/data/plans/urns.json, recorded from the plans of the
earlier main) is still declared, or is an alias of a resource declared now, so `pulumi up` on an
existing stack updates in place instead of replacing.

Only resources retired on purpose may go, each rule with its reason: Karpenter replaced the
Cluster Autoscaler and the managed GPU node groups (GPU capacity is now Karpenter NodePools)."""

from __future__ import annotations

import json
import re

import pytest

from ml.core.identity import load_identity
from tests.support.paths import TEST_DATA
from tests.support.plans import plan_json

RECORDED = TEST_DATA / "plans" / "urns.json"
# The project the URNs were recorded under; a renamed fork's plans carry its own name.
RECORDED_PROJECT = "mlops-template"


# Retired on purpose: (pattern over the recorded URN, why).
RETIRED = (
    (r"\$mlops:infra:ClusterAutoscaler(\$|::)", "Karpenter replaced the Cluster Autoscaler"),
    (
        r"mlops:infra:NodePool(\$[^:]+:[^:]+:[^:]+)?::gpu-",
        "GPU capacity moved from managed node groups to Karpenter NodePools",
    ),
    (
        r"::system-k8s\.io-cluster-autoscaler-node-template-",
        "the autoscaler's scale-from-zero hints on the system pool's Auto Scaling group",
    ),
)


def retired(urn: str) -> bool:
    return any(re.search(pattern, urn) for pattern, _ in RETIRED)


def recorded_urns(stack: str) -> set[str]:
    project = load_identity().project
    urns = json.loads(RECORDED.read_text(encoding="utf-8"))[stack]
    return {urn.replace(f"::{RECORDED_PROJECT}::", f"::{project}::", 1) for urn in urns}


def reachable_urns(plan: dict) -> set[str]:
    return {urn for r in plan["resources"] for urn in (r["urn"], *r["aliases"])}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_recorded_urn_is_still_declared_or_aliased(stack: str) -> None:
    plan = plan_json(stack)
    reachable = reachable_urns(plan)
    lost = {urn for urn in recorded_urns(stack) - reachable if not retired(urn)}
    assert not lost, f"{len(lost)} resources would be replaced: {sorted(lost)[:5]}"
    # Nothing is declared twice under one old name (two resources claiming one state).
    claims = [urn for r in plan["resources"] for urn in r["aliases"]]
    assert len(claims) == len(set(claims))


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_retired_urns_are_gone_and_each_rule_retires_something(stack: str) -> None:
    recorded = recorded_urns(stack)
    gone = {urn for urn in recorded if retired(urn)}
    assert not gone & reachable_urns(plan_json(stack))
    for pattern, reason in RETIRED:
        assert any(re.search(pattern, urn) for urn in recorded), reason
    # The system pool itself stays: its node group, launch template and cost-tag tags.
    assert not any(re.search(r"NodePool\$aws:eks/nodeGroup:NodeGroup::system$", u) for u in gone)


def test_a_lost_urn_is_caught() -> None:
    # The check above would notice a resource renamed without an alias.
    plan = plan_json("dev")
    first = plan["resources"][0]
    renamed = {**first, "urn": first["urn"] + "-renamed", "aliases": []}
    broken = {**plan, "resources": [renamed, *plan["resources"][1:]]}
    assert recorded_urns("dev") - reachable_urns(broken)
