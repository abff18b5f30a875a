"""The Karpenter component: pinned releases, CRDs before anything that needs them, every object
through the cluster's Kubernetes provider."""

from __future__ import annotations

import pytest

from infra.components.karpenter import NODE_CLASS_KIND, NODE_POOL_KIND
from infra.helpers.charts import KARPENTER, KARPENTER_CRD
from tests.infra.components.karpenter.stack import (
    NODE_CLASS,
    NODE_POOL,
    RELEASE,
    bottlerocket,
    release,
    stack,
)
from tests.support.pulumi_unit import Declared, stack_settings

STACKS = ["dev", "prod"]


def declared(name: str) -> Declared:
    return bottlerocket() if name == "bottlerocket" else stack(name)


def test_both_charts_are_pinned_oci_releases_in_kube_system() -> None:
    crds, controller = release(stack("dev"), "karpenter-crd"), release(stack("dev"), "karpenter")
    for registration, chart in ((crds, KARPENTER_CRD), (controller, KARPENTER)):
        inputs = registration.inputs
        assert inputs["chart"] == f"oci://public.ecr.aws/karpenter/{chart.name}"
        assert inputs["version"] == chart.version == "1.14.1"
        assert inputs["namespace"] == "kube-system"
        assert inputs["atomic"] is True
        assert "repositoryOpts" not in inputs  # OCI charts are pulled by reference
    # The CRDs come from their own release only.
    assert controller.inputs["skipCrds"] is True
    assert crds.inputs.get("skipCrds") is not True


@pytest.mark.parametrize("name", [*STACKS, "bottlerocket"])
def test_custom_resources_wait_for_the_crds_and_the_controller(name: str) -> None:
    """A fresh cluster knows no NodePool or EC2NodeClass kind until the CRD release is in; the
    recorded plan shows each object waiting for it (and for the controller, which removes
    them on destroy)."""
    plan = declared(name)
    crds, controller = release(plan, "karpenter-crd"), release(plan, "karpenter")
    assert crds.urn in controller.dependencies
    classes = {r.name: r for r in plan.of_type(NODE_CLASS)}
    pools = plan.of_type(NODE_POOL)
    assert classes and pools
    for registration in [*classes.values(), *pools]:
        assert {crds.urn, controller.urn} <= set(registration.dependencies), registration.name
    for pool in pools:
        node_class = classes[pool.inputs["spec"]["template"]["spec"]["nodeClassRef"]["name"]]
        assert node_class.urn in pool.dependencies


def test_the_crd_check_would_catch_a_missing_dependency() -> None:
    """The dependencies are the engine's ordering, not something every resource has: the CRD
    release itself waits for no custom resource, nor does the StorageClass for the CRDs."""
    plan = stack("dev")
    crds = release(plan, "karpenter-crd")
    storage_class = plan.one("kubernetes:storage.k8s.io/v1:StorageClass")
    assert crds.urn not in storage_class.dependencies
    assert not {r.urn for r in plan.of_type(NODE_POOL)} & set(crds.dependencies)


def test_releases_wait_for_the_system_nodes() -> None:
    plan = stack("dev")
    node_group = plan.one("aws:eks/nodeGroup:NodeGroup", "system")
    for name in ("karpenter-crd", "karpenter"):
        assert node_group.urn in release(plan, name).dependencies
    controller = release(plan, "karpenter")
    policy = plan.one("aws:iam/rolePolicy:RolePolicy", "karpenter-controller")
    queue = plan.one("aws:sqs/queue:Queue")
    assert {policy.urn, queue.urn} <= set(controller.dependencies)


@pytest.mark.parametrize("name", STACKS)
def test_one_object_per_setting_through_the_cluster_provider(name: str) -> None:
    plan = stack(name)
    settings = stack_settings(name)
    kubernetes = plan.one("pulumi:providers:kubernetes")
    pools = plan.of_type(NODE_POOL)
    classes = plan.of_type(NODE_CLASS)
    assert sorted(r.inputs["metadata"]["name"] for r in pools) == sorted(
        p.name for p in settings.cluster.node_pools
    )
    assert len(classes) == len(settings.cluster.karpenter.node_classes)
    for registration in [*pools, *classes, *plan.of_type(RELEASE)]:
        assert registration.provider == kubernetes.urn
    assert {r.inputs["kind"] for r in [*pools, *classes]} == {NODE_POOL_KIND, NODE_CLASS_KIND}


def test_everything_lives_under_the_karpenter_component() -> None:
    plan = stack("dev")
    component = plan.one("mlops:karpenter:Karpenter", "karpenter")
    for token in (NODE_POOL, NODE_CLASS, "aws:sqs/queue:Queue", "aws:ec2/tag:Tag"):
        for registration in plan.of_type(token):
            assert registration.parent == component.urn
    assert release(plan, "karpenter").parent == component.urn
