"""The model service on the cluster: an Argo Rollouts canary of the bento's image, and the hourly
drift check of what it is asked.

RolloutsController (controller.py) installs Argo Rollouts (pinned Helm chart). ServingPlatform
(platform.py) is what exists before any model: the deploy namespaces (Pod Security
`restricted`), the RBAC role the CI deploy role gets there, and the IAM roles (IRSA) of the model
pods and the drift job (access.py). ModelServing (model.py) holds what one shipped model needs:
the Rollout, the AnalysisTemplate that gates each canary step on Prometheus (rollout.py), the
stable, canary and metrics Services, the HPA, the PodDisruptionBudget, the ServiceMonitor, the
NetworkPolicy (specs.py), the ServiceAccounts and the drift CronJob (drift_job.py). `pulumi up`
returns once the Rollout is Healthy and fails when the canary aborts (the controller then scales
the canary away and traffic stays on the previous version).

The model pods (pod.py) log their requests to `s3://<artifacts>/predictions/`
(ml/serving/prediction_log.py); the CronJob runs `python -m ml.monitoring.drift` from the same
image on the last hours of them against the training rows `make publish` put beside the bento,
pushes the verdict to the Pushgateway (alerts in infra/components/monitoring/rules/
model-service.yaml) and, on drift, dispatches the retraining workflow.
"""

from infra.components.serving.access import DEPLOYER_RULES, drift_statements, serving_statements
from infra.components.serving.args import (
    RolloutsControllerArgs,
    ServingAccess,
    ServingArgs,
    ServingPlatformArgs,
)
from infra.components.serving.controller import RolloutsController, controller_values
from infra.components.serving.drift_job import drift_command, drift_cronjob_spec
from infra.components.serving.model import ModelServing
from infra.components.serving.names import (
    BENTO_SRC,
    DEPLOYER_ROLE,
    LATENCY_METRIC,
    MODEL_SERVING_NAME,
    MODEL_SERVING_TYPE,
    REQUESTS_METRIC,
    SERVICE_PORT,
    model_serving_urn,
)
from infra.components.serving.platform import ServingPlatform
from infra.components.serving.pod import pod_template, workload_labels
from infra.components.serving.rollout import analysis_queries, analysis_template_spec, rollout_spec

# The stack file's `serving` section the components read (defined with the other settings).
from infra.settings import ServingSettings

__all__ = [
    "BENTO_SRC",
    "DEPLOYER_ROLE",
    "DEPLOYER_RULES",
    "LATENCY_METRIC",
    "MODEL_SERVING_NAME",
    "MODEL_SERVING_TYPE",
    "REQUESTS_METRIC",
    "SERVICE_PORT",
    "ModelServing",
    "RolloutsController",
    "RolloutsControllerArgs",
    "ServingAccess",
    "ServingArgs",
    "ServingPlatform",
    "ServingPlatformArgs",
    "ServingSettings",
    "analysis_queries",
    "analysis_template_spec",
    "controller_values",
    "drift_command",
    "drift_cronjob_spec",
    "drift_statements",
    "model_serving_urn",
    "pod_template",
    "rollout_spec",
    "serving_statements",
    "workload_labels",
]
