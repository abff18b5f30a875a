"""The model pod's template: labels, security contexts, resources, probes and environment."""

from __future__ import annotations

from typing import Any

import pulumi

from infra.components.serving.args import ServingArgs
from infra.components.serving.names import (
    BENTO_UID,
    PREDICTIONS_PREFIX,
    SERVICE_PORT,
    WRITABLE_DIRS,
)
from infra.helpers.labels import GPU_RESOURCE, MODEL_NAME_LABEL, MODEL_VERSION_LABEL, NAME_LABEL
from ml.core.identity import load_identity
from ml.core.prediction_log_layout import URL_ENV as PREDICTION_LOG_URL_ENV

CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}
# Nothing in the pods talks to the Kubernetes API, so they get no API token. AWS credentials do
# not need one: the EKS pod identity webhook projects IRSA's web identity token (audience
# sts.amazonaws.com) into every pod whose service account carries the role-arn annotation,
# whatever this flag says.
SERVICE_ACCOUNT_TOKEN = False
POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": BENTO_UID,
    "runAsGroup": BENTO_UID,
    "fsGroup": BENTO_UID,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def workload_labels(args: ServingArgs) -> dict[str, str]:
    """The labels every object and pod carries: cost allocation plus which model and version."""
    return {
        **load_identity().cost_labels(args.environment),
        NAME_LABEL: args.model_name,
        MODEL_NAME_LABEL: args.model_name,
        MODEL_VERSION_LABEL: args.model_version,
    }


def aws_env(region: str) -> list[dict[str, Any]]:
    # The pods reach AWS (S3) with their service account's IAM role, in the stack's region.
    return [
        {"name": "AWS_REGION", "value": region},
        {"name": "AWS_DEFAULT_REGION", "value": region},
    ]


def predictions_url(bucket: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.concat("s3://", bucket, f"/{PREDICTIONS_PREFIX}")


def _resources(args: ServingArgs) -> dict[str, Any]:
    pod = args.settings
    requests: dict[str, Any] = {"cpu": f"{pod.cpu_millicores}m", "memory": f"{pod.memory_mib}Mi"}
    limits: dict[str, Any] = {
        "cpu": f"{pod.cpu_limit_millicores}m",
        "memory": f"{pod.memory_limit_mib}Mi",
    }
    if pod.gpus:
        requests[GPU_RESOURCE] = pod.gpus
        limits[GPU_RESOURCE] = pod.gpus
    return {"requests": requests, "limits": limits}


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def bento_container(args: ServingArgs, bucket: pulumi.Input[str]) -> dict[str, Any]:
    """The bento's server: probes on BentoML's health, requests logged to the bucket."""
    return {
        "name": "bento",
        "image": args.image,
        "ports": [{"name": "http", "containerPort": SERVICE_PORT, "protocol": "TCP"}],
        "env": [
            # One BLAS/OpenMP thread per worker: more threads than cores collapse throughput.
            {"name": "OMP_NUM_THREADS", "value": "1"},
            {"name": "BENTOML_DO_NOT_TRACK", "value": "true"},
            {"name": PREDICTION_LOG_URL_ENV, "value": predictions_url(bucket)},
            *aws_env(args.region),
        ],
        "resources": _resources(args),
        # Loading the model can take a while; liveness only starts once the server has started.
        "startupProbe": _probe("/livez", 5, 60),
        "livenessProbe": _probe("/livez", 10, 3),
        "readinessProbe": _probe("/readyz", 5, 3),
        "securityContext": CONTAINER_SECURITY,
        "volumeMounts": [{"name": name, "mountPath": path} for name, path in WRITABLE_DIRS.items()],
    }


def pod_template(
    args: ServingArgs, service_account: str, bucket: pulumi.Input[str]
) -> dict[str, Any]:
    """The pod: non-root, read-only root filesystem, no privileges, spread over the zones."""
    spec: dict[str, Any] = {
        "serviceAccountName": service_account,
        "automountServiceAccountToken": SERVICE_ACCOUNT_TOKEN,
        "securityContext": POD_SECURITY,
        "containers": [bento_container(args, bucket)],
        "volumes": [{"name": name, "emptyDir": {"sizeLimit": "256Mi"}} for name in WRITABLE_DIRS],
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {NAME_LABEL: args.model_name}},
            }
        ],
    }
    if args.settings.gpus:
        # The GPU pools infra/components/cluster labels for inference.
        spec["nodeSelector"] = args.settings.gpu_node_selector
        spec["tolerations"] = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
    bento = args.settings.bento_tag
    annotations = {"bentoml.com/bento-tag": bento} if bento else {}
    return {
        "metadata": {"labels": workload_labels(args), "annotations": annotations},
        "spec": spec,
    }
