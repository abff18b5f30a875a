"""The names, type tokens, ports, ids and annotations the serving objects share."""

from __future__ import annotations

MODEL_SERVING_TYPE = "mlops:serving:ModelServing"
PLATFORM_TYPE = "mlops:serving:ServingPlatform"
CONTROLLER_TYPE = "mlops:serving:RolloutsController"
# The component CI rolls out alone (`pulumi up --target <urn> --target-dependents`).
MODEL_SERVING_NAME = "model"

ROLLOUTS_NAMESPACE = "argo-rollouts"

# The bento's image (ml/release/templates/Dockerfile.j2, as BentoML's own images) runs as user
# `bentoml` (uid/gid 1034) with BENTOML_HOME at /home/bentoml; the server writes only the
# Prometheus multiprocess dir there, and sockets in /tmp.
BENTO_UID = 1034
BENTO_HOME = "/home/bentoml"
# The bento's sources (ml/, params.yaml) sit here in the image: `python -m ml.<module>` runs there.
BENTO_SRC = f"{BENTO_HOME}/bento/src"
WRITABLE_DIRS = {"tmp": "/tmp", "prometheus": f"{BENTO_HOME}/prometheus_multiproc_dir"}  # noqa: S108
SERVICE_PORT = 3000

# Where the pods log requests, and where the drift job reads them and the training rows.
PREDICTIONS_PREFIX = "predictions"
DRIFT_OUT = "/tmp/drift"  # noqa: S108 (the job's emptyDir)
# The token that lets the drift job start retraining (`kubectl create secret`, see the README);
# without it the job prints the command instead.
DISPATCH_SECRET = "drift-dispatch"  # noqa: S105 (the Secret's name)
DISPATCH_SECRET_KEY = "token"  # noqa: S105 (a key name in the Secret)
# The Secret reaches the job as a read-only file, never as an environment variable (which the
# process's children, crash dumps and `kubectl describe` would show): ml/monitoring/dispatch.py
# reads the file the variable names.
DISPATCH_TOKEN_FILE_ENV = "DISPATCH_TOKEN_FILE"  # noqa: S105 (an environment variable's name)
DISPATCH_TOKEN_DIR = "/var/run/secrets/dispatch"  # noqa: S105 (a mount path)

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
WAIT_FOR_ANNOTATION = "pulumi.com/waitFor"
TIMEOUT_ANNOTATION = "pulumi.com/timeoutSeconds"

# BentoML's HTTP metrics (namespace `bentoml_service`); `endpoint` is the request path.
REQUESTS_METRIC = "bentoml_service_request_total"
LATENCY_METRIC = "bentoml_service_request_duration_seconds_bucket"

# The Role the CI deploy role is bound to in each deploy namespace.
DEPLOYER_ROLE = "model-deployer"


def model_serving_urn(project: str, stack: str) -> str:
    """The URN of the stack's ModelServing component (a child of the stack itself)."""
    return f"urn:pulumi:{stack}::{project}::{MODEL_SERVING_TYPE}::{MODEL_SERVING_NAME}"


def drift_service_account(model_name: str) -> str:
    return f"{model_name}-drift"
