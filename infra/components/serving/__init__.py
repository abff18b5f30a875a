"""The model service on the cluster: an Argo Rollouts canary of the bento's image, and the hourly
drift check of what it is asked.

RolloutsController installs Argo Rollouts (pinned Helm chart). ServingPlatform is what exists
before any model: the deploy namespaces (Pod Security `restricted`), the RBAC role the CI deploy
role gets there, and the IAM roles (IRSA) of the model pods and the drift job. ModelServing holds
what one shipped model needs: the Rollout, the AnalysisTemplate that gates each canary step on
Prometheus, the stable, canary and metrics Services, the HPA, the PodDisruptionBudget, the
ServiceMonitor, the NetworkPolicy, the ServiceAccounts and the drift CronJob. `pulumi up` returns
once the Rollout is Healthy and fails when the canary aborts (the controller then scales the
canary away and traffic stays on the previous version).

The model pods log their requests to `s3://<artifacts>/predictions/` (ml/serving/prediction_log.py); the
CronJob runs `python -m ml.monitoring.drift` from the same image on the last hours of them against the
training rows `make publish` put beside the bento, pushes the verdict to the Pushgateway (alerts
in infra/components/monitoring/rules/model-service.yaml) and, on drift, dispatches the retraining workflow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Self, cast

import pulumi
import pulumi_kubernetes as k8s
from pydantic import BaseModel, ConfigDict, Field, model_validator

from infra.helpers.charts import ARGO_ROLLOUTS
from infra.helpers.iam import Irsa, Statement, irsa_role
from infra.helpers.labels import (
    COMPONENT_LABEL,
    GPU_RESOURCE,
    MODEL_NAME_LABEL,
    MODEL_VERSION_LABEL,
    NAME_LABEL,
    POD_HASH_LABEL,
)
from infra.settings import Naming, ServingSettings
from ml.core.artifacts import reference_key
from ml.core.identity import LabelValue, load_identity
from ml.serving.prediction_log import URL_ENV as PREDICTION_LOG_URL_ENV

ROLLOUTS_NAMESPACE = "argo-rollouts"

# The component CI rolls out alone (`pulumi up --target <urn> --target-dependents`).
MODEL_SERVING_TYPE = "mlops:serving:ModelServing"
MODEL_SERVING_NAME = "model"

# BentoML's containerize image runs as user `bentoml` (uid/gid 1034) with BENTOML_HOME at
# /home/bentoml; the server writes only the Prometheus multiprocess dir there, and sockets in /tmp.
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
DISPATCH_TOKEN_ENV = "DISPATCH_TOKEN"  # noqa: S105 (an environment variable's name)
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"

# BentoML's HTTP metrics (namespace `bentoml_service`); `endpoint` is the request path.
REQUESTS_METRIC = "bentoml_service_request_total"
LATENCY_METRIC = "bentoml_service_request_duration_seconds_bucket"
# Probes and scrapes are not user traffic: they would dilute the error ratio and the latency.
_NOT_TRAFFIC = 'endpoint!~"/(livez|readyz|healthz|metrics)"'

WAIT_FOR_ANNOTATION = "pulumi.com/waitFor"
TIMEOUT_ANNOTATION = "pulumi.com/timeoutSeconds"

DnsLabel = Annotated[str, Field(pattern=r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")]
Url = Annotated[str, Field(pattern=r"^https?://\S+$")]


def model_serving_urn(project: str, stack: str) -> str:
    """The URN of the stack's ModelServing component (a child of the stack itself)."""
    return f"urn:pulumi:{stack}::{project}::{MODEL_SERVING_TYPE}::{MODEL_SERVING_NAME}"


def drift_service_account(model_name: str) -> str:
    return f"{model_name}-drift"


class ServingArgs(BaseModel):
    """Everything the component needs: the stack's settings plus what the program knows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    environment: LabelValue
    region: Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")]
    # params.yaml `package.model_name`: it names the bento and every object here.
    model_name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,40}[a-z0-9]$")]
    # kube-prometheus-stack's Prometheus (the canary analysis queries it), the namespace it
    # scrapes from, the labels its ServiceMonitors carry, and the Pushgateway (infra/components/monitoring/__init__.py).
    prometheus_url: Url
    prometheus_namespace: DnsLabel
    service_monitor_labels: dict[str, str]
    pushgateway_url: Url
    settings: ServingSettings

    @model_validator(mode="after")
    def _shipped(self) -> Self:
        if not self.settings.shipped:
            raise ValueError("serving.image is not set: no model has been shipped to this stack")
        return self

    @property
    def image(self) -> str:
        return self.settings.image or ""

    @property
    def model_version(self) -> str:
        return self.settings.model_version or ""


@dataclass(frozen=True)
class ServingAccess:
    """What ServingPlatform made for the pods: the bucket and the IRSA roles."""

    bucket: pulumi.Input[str]
    model_role_arn: pulumi.Input[str]
    drift_role_arn: pulumi.Input[str]


def workload_labels(args: ServingArgs) -> dict[str, str]:
    """The labels every object and pod carries: cost allocation plus which model and version."""
    return {
        **load_identity().cost_labels(args.environment),
        NAME_LABEL: args.model_name,
        MODEL_NAME_LABEL: args.model_name,
        MODEL_VERSION_LABEL: args.model_version,
    }


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


CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}
POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": BENTO_UID,
    "runAsGroup": BENTO_UID,
    "fsGroup": BENTO_UID,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _aws_env(region: str) -> list[dict[str, Any]]:
    # The pods reach AWS (S3) with their service account's IAM role, in the stack's region.
    return [
        {"name": "AWS_REGION", "value": region},
        {"name": "AWS_DEFAULT_REGION", "value": region},
    ]


def predictions_url(bucket: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.concat("s3://", bucket, f"/{PREDICTIONS_PREFIX}")


def pod_template(
    args: ServingArgs, service_account: str, bucket: pulumi.Input[str]
) -> dict[str, Any]:
    """The pod: non-root, read-only root filesystem, no privileges, probes on BentoML's health,
    requests logged to the artifacts bucket."""
    container = {
        "name": "bento",
        "image": args.image,
        "ports": [{"name": "http", "containerPort": SERVICE_PORT, "protocol": "TCP"}],
        "env": [
            # One BLAS/OpenMP thread per worker: more threads than cores collapse throughput.
            {"name": "OMP_NUM_THREADS", "value": "1"},
            {"name": "BENTOML_DO_NOT_TRACK", "value": "true"},
            {"name": PREDICTION_LOG_URL_ENV, "value": predictions_url(bucket)},
            *_aws_env(args.region),
        ],
        "resources": _resources(args),
        # Loading the model can take a while; liveness only starts once the server has started.
        "startupProbe": _probe("/livez", 5, 60),
        "livenessProbe": _probe("/livez", 10, 3),
        "readinessProbe": _probe("/readyz", 5, 3),
        "securityContext": CONTAINER_SECURITY,
        "volumeMounts": [{"name": name, "mountPath": path} for name, path in WRITABLE_DIRS.items()],
    }
    spec: dict[str, Any] = {
        "serviceAccountName": service_account,
        # The IRSA web identity token is a projected service-account token; the account itself
        # has no Kubernetes permissions.
        "automountServiceAccountToken": True,
        "securityContext": POD_SECURITY,
        "containers": [container],
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
        # The GPU pools infra/components/cluster/__init__.py labels for inference.
        spec["nodeSelector"] = args.settings.gpu_node_selector
        spec["tolerations"] = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
    bento = args.settings.bento_tag
    annotations = {"bentoml.com/bento-tag": bento} if bento else {}
    return {
        "metadata": {"labels": workload_labels(args), "annotations": annotations},
        "spec": spec,
    }


def drift_command(args: ServingArgs, bucket: pulumi.Input[str]) -> list[Any]:
    """`python -m ml.monitoring.drift` on the logged requests of the last hours against the training rows
    published beside the bento; the verdict goes to the Pushgateway, drift starts retraining."""
    reference = reference_key(args.model_name, args.model_version)
    return [
        "python",
        "-m",
        "ml.monitoring.drift",
        "--current",
        predictions_url(bucket),
        "--hours",
        str(args.settings.drift_window_hours),
        "--reference",
        pulumi.Output.concat("s3://", bucket, f"/{reference}"),
        "--out",
        DRIFT_OUT,
        "--pushgateway",
        args.pushgateway_url,
        "--dispatch",
    ]


def drift_cronjob_spec(
    args: ServingArgs, service_account: str, bucket: pulumi.Input[str]
) -> dict[str, Any]:
    """The drift check as a CronJob of the model's own image (which holds the ml package)."""
    labels = {**workload_labels(args), COMPONENT_LABEL: "drift"}
    container = {
        "name": "drift",
        "image": args.image,
        "workingDir": BENTO_SRC,
        "command": drift_command(args, bucket),
        "env": [
            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
            {
                "name": DISPATCH_TOKEN_ENV,
                "valueFrom": {
                    "secretKeyRef": {
                        "name": DISPATCH_SECRET,
                        "key": DISPATCH_SECRET_KEY,
                        "optional": True,
                    }
                },
            },
            *_aws_env(args.region),
        ],
        "resources": {
            "requests": {"cpu": "100m", "memory": "512Mi"},
            "limits": {"memory": "1Gi"},
        },
        "securityContext": CONTAINER_SECURITY,
        "volumeMounts": [{"name": "tmp", "mountPath": WRITABLE_DIRS["tmp"]}],
    }
    pod = {
        "metadata": {"labels": labels},
        "spec": {
            "serviceAccountName": service_account,
            "automountServiceAccountToken": True,
            "restartPolicy": "Never",
            "securityContext": POD_SECURITY,
            "containers": [container],
            "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}],
        },
    }
    return {
        "schedule": args.settings.drift_schedule,
        "timeZone": "Etc/UTC",
        # One check at a time; a missed hour is skipped, not caught up in a burst.
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 600,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {
            "metadata": {"labels": labels},
            "spec": {
                # ml.monitoring.drift exits non-zero only when it could not judge or publish: a retry
                # would repeat the same failure (and could dispatch twice).
                "backoffLimit": 0,
                "activeDeadlineSeconds": 1800,
                "ttlSecondsAfterFinished": 86_400,
                "template": pod,
            },
        },
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


def controller_values(
    environment: str, service_monitor_labels: Mapping[str, str]
) -> dict[str, Any]:
    """The Argo Rollouts chart's values: no dashboard, metrics scraped, cost-labelled pods."""
    cost_labels = load_identity().cost_labels(environment)
    return {
        "installCRDs": True,
        "dashboard": {"enabled": False},
        "controller": {
            "metrics": {
                "enabled": True,
                "serviceMonitor": {
                    "enabled": True,
                    "additionalLabels": dict(service_monitor_labels),
                },
            },
            "podLabels": cost_labels,
            "resources": {
                "requests": {"cpu": "50m", "memory": "128Mi"},
                "limits": {"memory": "256Mi"},
            },
        },
        "global": {"deploymentLabels": cost_labels},
    }


class RolloutsController(pulumi.ComponentResource):
    """The Argo Rollouts controller (and its CRDs), from the pinned Helm chart.

    Separate from the service so the stack has it before a first model is shipped; pass it to
    ModelServing's `after`, with kube-prometheus-stack (the ServiceMonitor CRD).
    """

    def __init__(
        self,
        name: str,
        environment: str,
        service_monitor_labels: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
        after: Sequence[pulumi.Resource] = (),
    ) -> None:
        super().__init__("mlops:serving:RolloutsController", name, None, opts)
        self.release = k8s.helm.v3.Release(
            name,
            chart=ARGO_ROLLOUTS.name,
            version=ARGO_ROLLOUTS.version,
            repository_opts={"repo": ARGO_ROLLOUTS.repo},
            namespace=ROLLOUTS_NAMESPACE,
            create_namespace=True,
            atomic=True,
            values=controller_values(environment, service_monitor_labels),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(after)),
        )
        self.register_outputs({"status": self.release.status})


# What the CI deploy role may do in the deploy namespaces: exactly the objects ModelServing
# declares, and reading what `pulumi up` watches while it waits for them.
_WRITE = ["get", "list", "watch", "create", "update", "patch", "delete"]
_READ = ["get", "list", "watch"]
DEPLOYER_RULES: list[k8s.rbac.v1.PolicyRuleArgsDict] = [
    {"api_groups": [""], "resources": ["services", "serviceaccounts"], "verbs": _WRITE},
    {"api_groups": [""], "resources": ["pods", "pods/log", "endpoints", "events"], "verbs": _READ},
    {"api_groups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": _READ},
    {"api_groups": ["apps"], "resources": ["replicasets"], "verbs": _READ},
    {"api_groups": ["batch"], "resources": ["cronjobs"], "verbs": _WRITE},
    {"api_groups": ["batch"], "resources": ["jobs"], "verbs": _READ},
    {"api_groups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": _WRITE},
    {"api_groups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": _WRITE},
    {"api_groups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": _WRITE},
    {
        "api_groups": ["argoproj.io"],
        "resources": ["rollouts", "analysistemplates"],
        "verbs": _WRITE,
    },
    {"api_groups": ["argoproj.io"], "resources": ["analysisruns"], "verbs": _READ},
    {"api_groups": ["monitoring.coreos.com"], "resources": ["servicemonitors"], "verbs": _WRITE},
]
DEPLOYER_ROLE = "model-deployer"


@dataclass(frozen=True)
class ServingPlatformArgs:
    settings: ServingSettings
    environment: str
    model_name: str
    naming: Naming
    region: str
    irsa: Irsa
    artifacts_bucket: pulumi.Input[str]
    artifacts_bucket_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    # ci.deployNamespaces, and the Kubernetes group the deploy role is a member of.
    deploy_namespaces: Sequence[str]
    deploy_group: str


def serving_statements(
    bucket_arn: pulumi.Input[str], key_arn: pulumi.Input[str], region: str
) -> list[Statement]:
    """The model pods write their request logs, and nothing else."""
    return [
        {
            "Sid": "WritePredictionLogs",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": pulumi.Output.concat(bucket_arn, f"/{PREDICTIONS_PREFIX}/*"),
        },
        _key_through_s3(key_arn, region, ["kms:GenerateDataKey", "kms:Decrypt"]),
    ]


def drift_statements(
    bucket_arn: pulumi.Input[str], key_arn: pulumi.Input[str], region: str
) -> list[Statement]:
    """The drift job reads the request logs and the training rows, and nothing else."""
    prefixes = [PREDICTIONS_PREFIX, reference_key("*", "*").split("/", 1)[0]]
    return [
        {
            "Sid": "ListLogsAndReferences",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn,
            "Condition": {"StringLike": {"s3:prefix": [f"{p}/*" for p in prefixes]}},
        },
        {
            "Sid": "ReadLogsAndReferences",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": [pulumi.Output.concat(bucket_arn, f"/{p}/*") for p in prefixes],
        },
        _key_through_s3(key_arn, region, ["kms:Decrypt"]),
    ]


def _key_through_s3(key_arn: pulumi.Input[str], region: str, actions: list[str]) -> Statement:
    # The bucket is encrypted with the stack's key; only S3 may use it on the pods' behalf.
    return {
        "Sid": "StackKeyThroughS3",
        "Effect": "Allow",
        "Action": actions,
        "Resource": key_arn,
        "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
    }


class ServingPlatform(pulumi.ComponentResource):
    """What the model service stands on before any model is shipped (the infra role keeps it):
    the deploy namespaces, the deploy role's RBAC there, and the pods' IAM roles."""

    access: ServingAccess

    def __init__(
        self,
        name: str,
        args: ServingPlatformArgs,
        opts: pulumi.ResourceOptions | None = None,
        after: Sequence[pulumi.Resource] = (),
    ) -> None:
        """`after`: what the namespaces wait for (the cluster's nodes)."""
        super().__init__("mlops:serving:ServingPlatform", name, None, opts)
        labels = load_identity().cost_labels(args.environment)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(after))
        self.namespaces: list[pulumi.Resource] = []
        for ns in args.deploy_namespaces:
            namespace = k8s.core.v1.Namespace(
                f"{name}-{ns}",
                metadata={
                    "name": ns,
                    # The pods meet the "restricted" Pod Security Standard; enforce it.
                    "labels": {**labels, "pod-security.kubernetes.io/enforce": "restricted"},
                },
                opts=child,
            )
            in_ns = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
            role = k8s.rbac.v1.Role(
                f"{name}-{ns}-deployer",
                metadata={"name": DEPLOYER_ROLE, "namespace": ns, "labels": labels},
                rules=DEPLOYER_RULES,
                opts=in_ns,
            )
            binding = k8s.rbac.v1.RoleBinding(
                f"{name}-{ns}-deployer",
                metadata={"name": DEPLOYER_ROLE, "namespace": ns, "labels": labels},
                role_ref={
                    "api_group": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": DEPLOYER_ROLE,
                },
                subjects=[
                    {
                        "kind": "Group",
                        "name": args.deploy_group,
                        "api_group": "rbac.authorization.k8s.io",
                    }
                ],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[role]),
            )
            self.namespaces += [namespace, role, binding]

        ns = args.settings.namespace
        model_role = irsa_role(
            f"{name}-model",
            args.naming.role("serving"),
            args.irsa,
            ns,
            args.model_name,
            serving_statements(args.artifacts_bucket_arn, args.key_arn, args.region),
            parent=self,
        )
        drift_role = irsa_role(
            f"{name}-drift",
            args.naming.role("drift"),
            args.irsa,
            ns,
            drift_service_account(args.model_name),
            drift_statements(args.artifacts_bucket_arn, args.key_arn, args.region),
            parent=self,
        )
        self.access = ServingAccess(
            bucket=args.artifacts_bucket,
            model_role_arn=model_role.arn,
            drift_role_arn=drift_role.arn,
        )
        self.register_outputs({"modelRoleArn": model_role.arn, "driftRoleArn": drift_role.arn})


class ModelServing(pulumi.ComponentResource):
    """The model service: a canary Rollout of the bento's image, what it needs around it, and
    the drift CronJob."""

    rollout_name: pulumi.Output[str]
    namespace: pulumi.Output[str]
    service_url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: ServingArgs,
        access: ServingAccess,
        opts: pulumi.ResourceOptions | None = None,
        after: Sequence[pulumi.Resource] = (),
    ) -> None:
        """`after`: what must exist first: the ServingPlatform (namespace, roles), the
        RolloutsController and kube-prometheus-stack (the CRDs)."""
        super().__init__(MODEL_SERVING_TYPE, name, None, opts)
        labels = workload_labels(args)
        app = args.model_name
        settings = args.settings
        ns = settings.namespace
        first = pulumi.ResourceOptions(parent=self, depends_on=list(after))

        def meta(
            object_name: str, component: str, annotations: Mapping[str, Any] | None = None
        ) -> k8s.meta.v1.ObjectMetaArgsDict:
            return {
                "name": object_name,
                "namespace": ns,
                "labels": {**labels, COMPONENT_LABEL: component},
                "annotations": dict(annotations or {}),
            }

        account = k8s.core.v1.ServiceAccount(
            f"{name}-account",
            metadata=meta(app, "serving", {IRSA_ANNOTATION: access.model_role_arn}),
            automount_service_account_token=False,
            opts=first,
        )
        drift_account = k8s.core.v1.ServiceAccount(
            f"{name}-drift-account",
            metadata=meta(
                drift_service_account(app), "drift", {IRSA_ANNOTATION: access.drift_role_arn}
            ),
            automount_service_account_token=False,
            opts=first,
        )

        def service(object_name: str, component: str, headless: bool) -> k8s.core.v1.Service:
            spec: k8s.core.v1.ServiceSpecArgsDict = {
                "type": "ClusterIP",
                "selector": {NAME_LABEL: app},
                "ports": [
                    {"name": "http", "port": SERVICE_PORT, "target_port": "http", "protocol": "TCP"}
                ],
            }
            if headless:
                spec["cluster_ip"] = "None"
            return k8s.core.v1.Service(
                f"{name}-{object_name}",
                metadata=meta(object_name, component),
                spec=spec,
                opts=first,
            )

        # Argo Rollouts points these two at the stable and the canary pods.
        stable = service(app, "serving", headless=False)
        canary = service(f"{app}-canary", "canary", headless=False)
        # All pods of every version, scraped once each (stable and canary share pods at rest).
        metrics = service(f"{app}-metrics", "metrics", headless=True)

        k8s.apiextensions.CustomResource(
            f"{name}-service-monitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata={
                "name": app,
                "namespace": ns,
                "labels": {**labels, **args.service_monitor_labels},
            },
            spec={
                "selector": {"matchLabels": {NAME_LABEL: app, COMPONENT_LABEL: "metrics"}},
                "namespaceSelector": {"matchNames": [ns]},
                # Carried onto the series so the analysis and dashboards can split by version.
                "podTargetLabels": [POD_HASH_LABEL, MODEL_VERSION_LABEL],
                "endpoints": [
                    {
                        "port": "http",
                        "path": "/metrics",
                        "interval": "15s",
                        # BentoML's own `endpoint` label (the request path) must win over the
                        # operator's `endpoint` target label (the port name).
                        "honorLabels": True,
                    }
                ],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[metrics, *after]),
        )

        template = k8s.apiextensions.CustomResource(
            f"{name}-analysis",
            api_version="argoproj.io/v1alpha1",
            kind="AnalysisTemplate",
            metadata=meta(f"{app}-canary-health", "analysis"),
            spec=analysis_template_spec(args),
            opts=first,
        )

        timeouts = f"{settings.rollout_timeout_s}s"
        rollout = k8s.apiextensions.CustomResource(
            f"{name}-rollout",
            api_version="argoproj.io/v1alpha1",
            kind="Rollout",
            metadata=meta(
                app,
                "serving",
                annotations={
                    # Healthy: every step passed and the new version is stable. An aborted
                    # canary is Degraded, so `pulumi up` times out and fails.
                    WAIT_FOR_ANNOTATION: "jsonpath={.status.phase}=Healthy",
                    TIMEOUT_ANNOTATION: str(settings.rollout_timeout_s),
                },
            ),
            spec=rollout_spec(args, app, f"{app}-canary-health", access.bucket),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[template, stable, canary, account, *after],
                custom_timeouts=pulumi.CustomTimeouts(create=timeouts, update=timeouts),
            ),
        )

        k8s.batch.v1.CronJob(
            f"{name}-drift",
            metadata=meta(f"{app}-drift", "drift"),
            # The Kubernetes API's own camelCase shape (it shares the pod security settings
            # with the Rollout's template); the SDK passes such keys through unchanged.
            spec=cast(Any, drift_cronjob_spec(args, drift_service_account(app), access.bucket)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[drift_account, *after]),
        )

        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-hpa",
            metadata=meta(app, "serving"),
            spec={
                "scale_target_ref": {
                    "api_version": "argoproj.io/v1alpha1",
                    "kind": "Rollout",
                    "name": app,
                },
                "min_replicas": settings.min_replicas,
                "max_replicas": settings.max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {
                                "type": "Utilization",
                                "average_utilization": settings.target_cpu_percent,
                            },
                        },
                    }
                ],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[rollout]),
        )

        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=meta(app, "serving"),
            # One pod at a time: node drains proceed, and never take the service down.
            spec={"max_unavailable": 1, "selector": {"match_labels": {NAME_LABEL: app}}},
            opts=first,
        )

        allowed_namespaces = sorted({args.prometheus_namespace, *settings.client_namespaces})
        k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata=meta(app, "serving"),
            spec={
                "pod_selector": {"match_labels": {NAME_LABEL: app}},
                "policy_types": ["Ingress"],
                "ingress": [
                    {
                        "ports": [{"port": SERVICE_PORT, "protocol": "TCP"}],
                        "from_": [
                            {"pod_selector": {}},
                            *(
                                {
                                    "namespace_selector": {
                                        "match_labels": {"kubernetes.io/metadata.name": other}
                                    }
                                }
                                for other in allowed_namespaces
                            ),
                        ],
                    }
                ],
            },
            opts=first,
        )

        self.rollout_name = rollout.id.apply(lambda _: app)
        self.namespace = pulumi.Output.from_input(ns)
        self.service_url = pulumi.Output.from_input(
            f"http://{app}.{ns}.svc.cluster.local:{SERVICE_PORT}"
        )
        self.register_outputs(
            {
                "rollout_name": self.rollout_name,
                "namespace": self.namespace,
                "service_url": self.service_url,
            }
        )
