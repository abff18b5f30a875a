"""The serving settings and program inputs the tests render with, the rendering itself and
lookups into the rendered objects."""

from __future__ import annotations

from typing import Any

import pulumi
import yaml

from infra.components.serving import (
    ModelServing,
    RolloutsController,
    RolloutsControllerArgs,
    ServingAccess,
    ServingArgs,
)
from infra.settings import ServingSettings
from tests.support.pulumi_unit import PROJECT, REPO_ROOT
from tests.support.rendering import ACCOUNT_ID, render

K8S_VERSION = "1.33"
MODEL = "breast-cancer-classifier"
VERSION = "20260101_abc123"
BUCKET = f"{PROJECT}-dev-artifacts-{ACCOUNT_ID}"
DIGEST = "sha256:" + "3f" * 32
PROGRAM = {
    "environment": "dev",
    "region": "eu-west-1",
    "model_name": MODEL,
    "prometheus_url": "http://kube-prometheus-stack-prometheus.monitoring.svc:9090",
    "prometheus_namespace": "monitoring",
    "service_monitor_labels": {"release": "kube-prometheus-stack"},
    "pushgateway_url": "http://prometheus-pushgateway.monitoring.svc:9091",
}
ACCESS = ServingAccess(
    bucket=BUCKET,
    model_role_arn=f"arn:aws:iam::{ACCOUNT_ID}:role/serving",
    drift_role_arn=f"arn:aws:iam::{ACCOUNT_ID}:role/drift",
)
# The committed stack file's `serving` section, as CI leaves it after shipping a model.
COMMITTED = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text(encoding="utf-8"))["config"][
    f"{PROJECT}:serving"
]
SECTION = {
    **COMMITTED,
    "minReplicas": 2,
    "maxReplicas": 6,
    "cpuMillicores": 500,
    "memoryMib": 1024,
    "maxErrorRatio": 0.01,
    "modelVersion": VERSION,
    "bentoTag": f"{MODEL}:{VERSION}",
    "image": f"{ACCOUNT_ID}.dkr.ecr.eu-west-1.amazonaws.com/{PROJECT}-dev/bentos@{DIGEST}",
    "clientNamespaces": ["ingress-nginx"],
}


def serving_args(**section: Any) -> ServingArgs:
    settings = ServingSettings.model_validate({**SECTION, **section})
    return ServingArgs(**PROGRAM, settings=settings, access=ACCESS)


CORE_KINDS = {"Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"}
CORE_KINDS |= {"ServiceAccount", "CronJob"}


def render_serving(**overrides: Any) -> dict[str, dict[str, Any]]:
    """The component's Kubernetes objects by kind (Services and accounts by `<kind>/<name>`)."""
    args = serving_args(**overrides)

    def program() -> Any:
        controller = RolloutsController(
            "argo-rollouts",
            RolloutsControllerArgs(args.environment, args.service_monitor_labels),
        )
        after = pulumi.ResourceOptions(depends_on=[controller])
        return ModelServing("model", args, after).service_url

    objects: dict[str, dict[str, Any]] = {}
    for resource in render(program):
        inputs = resource.inputs
        kind = inputs.get("kind") or resource.typ.rsplit(":", 1)[-1]
        named = kind in {"Service", "ServiceAccount"}
        objects[f"{kind}/{inputs['metadata']['name']}" if named else kind] = inputs
    return objects


ISSUER = "oidc.eks.eu-west-1.amazonaws.com/id/ABC"


def _pod(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return objects["Rollout"]["spec"]["template"]


def _container(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (container,) = _pod(objects)["spec"]["containers"]
    return container


def _drift_pod(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return objects["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]
