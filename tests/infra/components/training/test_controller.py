"""The controller: the chart's keys, the system pool, non-root with resources, and the service
account and namespace the scale sets bind their manager Roles to."""

from __future__ import annotations

from typing import Any

import pytest

from infra.components.training.names import CONTROLLER_NAMESPACE
from infra.helpers.charts import ARC_CONTROLLER, ARC_SCALE_SET
from tests.infra.components.training.objects import (
    controller_values,
    releases,
    rendered,
    restricted_violations,
    scale_set_values,
    stack_settings,
    undocumented,
)

VALUES_FILE = "gha-runner-scale-set-controller-values.yaml"
FREE_FORM = {"labels", "podLabels", "podSecurityContext", "securityContext", "resources"}
FREE_FORM |= {"nodeSelector"}


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return controller_values(rendered())


def test_every_value_is_a_key_the_chart_documents(values: dict[str, Any]) -> None:
    assert undocumented(values, VALUES_FILE, FREE_FORM) == []
    wrong = {**values, "flags": {**values["flags"], "watchNamespace": "x"}}
    assert undocumented(wrong, VALUES_FILE, FREE_FORM) == ["flags.watchNamespace"]


def test_both_charts_are_the_pinned_oci_charts() -> None:
    found = {inputs["chart"]: inputs for inputs in releases(rendered()).values()}
    for chart in (ARC_CONTROLLER, ARC_SCALE_SET):
        inputs = found[f"{chart.repo}/{chart.name}"]
        assert inputs["version"] == chart.version
        assert inputs["atomic"] is True


def test_the_controller_runs_on_the_system_pool_non_root_with_resources(
    values: dict[str, Any],
) -> None:
    system = stack_settings("dev").cluster.system_pool.name
    assert values["nodeSelector"]["node-pool"] == system
    # The chart's Deployment: podSecurityContext for the pod, securityContext for `manager`.
    pod = {
        "securityContext": values["podSecurityContext"],
        "containers": [{"name": "manager", "securityContext": values["securityContext"]}],
    }
    assert restricted_violations(pod) == []
    assert values["securityContext"]["readOnlyRootFilesystem"] is True
    assert values["resources"]["requests"]["cpu"]
    assert values["resources"]["limits"]["memory"]


def test_scale_sets_name_the_controllers_service_account_and_its_namespace(
    values: dict[str, Any],
) -> None:
    by_chart = {inputs["chart"]: inputs for inputs in releases(rendered()).values()}
    controller = by_chart[f"{ARC_CONTROLLER.repo}/{ARC_CONTROLLER.name}"]
    assert controller["namespace"] == CONTROLLER_NAMESPACE
    assert values["serviceAccount"]["create"] is True
    for scale_set in scale_set_values(rendered()):
        assert scale_set["controllerServiceAccount"] == {
            "namespace": controller["namespace"],
            "name": values["serviceAccount"]["name"],
        }


def test_the_controller_watches_the_runners_namespace_only(values: dict[str, Any]) -> None:
    runners = stack_settings("dev").training.namespace
    assert values["flags"]["watchSingleNamespace"] == runners
    chart = f"{ARC_SCALE_SET.repo}/{ARC_SCALE_SET.name}"
    scale_sets = [inputs for inputs in releases(rendered()).values() if inputs["chart"] == chart]
    assert scale_sets
    assert {inputs["namespace"] for inputs in scale_sets} == {runners}
