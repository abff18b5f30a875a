"""The model service on the cluster: an Argo Rollouts canary of the bento's image.

RolloutsController installs Argo Rollouts (pinned Helm chart). ModelServing holds what the
service needs: the Rollout, the AnalysisTemplate that gates each canary step on Prometheus, the
stable, canary and metrics Services, the HPA, the PodDisruptionBudget, the ServiceMonitor, the
NetworkPolicy and the ServiceAccount. `pulumi up` returns once the Rollout is Healthy and fails
when the canary aborts (the controller then scales the canary away and traffic stays on the
previous version).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Self

import pulumi
import pulumi_kubernetes as k8s
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from infra.cluster import ACCELERATOR_LABEL, GPU_RESOURCE, WORKLOAD_LABEL
from ml.identity import LabelValue, load_identity

# Pinned so every `pulumi up` installs the same controller; Dependabot does not track Helm charts.
ROLLOUTS_CHART = "argo-rollouts"
ROLLOUTS_CHART_VERSION = "2.40.3"
ROLLOUTS_REPO = "https://argoproj.github.io/argo-helm"
ROLLOUTS_NAMESPACE = "argo-rollouts"

# BentoML's containerize image runs as user `bentoml` (uid/gid 1034) with BENTOML_HOME at
# /home/bentoml; the server writes only the Prometheus multiprocess dir there, and sockets in /tmp.
BENTO_UID = 1034
BENTO_HOME = "/home/bentoml"
WRITABLE_DIRS = {"tmp": "/tmp", "prometheus": f"{BENTO_HOME}/prometheus_multiproc_dir"}  # noqa: S108
SERVICE_PORT = 3000

# BentoML's HTTP metrics (namespace `bentoml_service`); `endpoint` is the request path.
REQUESTS_METRIC = "bentoml_service_request_total"
LATENCY_METRIC = "bentoml_service_request_duration_seconds_bucket"
# Probes and scrapes are not user traffic: they would dilute the error ratio and the latency.
_NOT_TRAFFIC = 'endpoint!~"/(livez|readyz|healthz|metrics)"'
# Argo Rollouts labels each ReplicaSet's pods with this; the ServiceMonitor copies it onto every
# series so the analysis can look at the canary's pods alone.
POD_HASH_LABEL = "rollouts-pod-template-hash"

WAIT_FOR_ANNOTATION = "pulumi.com/waitFor"
TIMEOUT_ANNOTATION = "pulumi.com/timeoutSeconds"
NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"
MODEL_NAME_LABEL = "model-name"
MODEL_VERSION_LABEL = "model-version"

DnsLabel = Annotated[str, Field(pattern=r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")]


class ServingSettings(BaseModel):
    """The stack file's `serving` section (camelCase keys there): how the service runs.

    CI fills `image`, `modelVersion` and `bentoTag` when it ships a model (`make up IMAGE=...`);
    until a first model is shipped they are unset and the stack declares no service.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, alias_generator=to_camel
    )

    # `<ecr-url>@sha256:...` (or `:<git sha>`), as `make image` pushed it.
    image: Annotated[str, Field(pattern=r"^\S+$")] | None = None
    # The bento version: it becomes the pods' `model-version` label, so label-safe.
    model_version: LabelValue | None = None
    bento_tag: str = ""
    namespace: DnsLabel = "serving"
    min_replicas: Annotated[int, Field(ge=1, le=100)] = 2
    max_replicas: Annotated[int, Field(ge=1, le=500)] = 6
    target_cpu_percent: Annotated[int, Field(ge=10, le=100)] = 70
    cpu_millicores: Annotated[int, Field(ge=50, le=64_000)] = 500
    memory_mib: Annotated[int, Field(ge=64, le=262_144)] = 1024
    cpu_limit_millicores: Annotated[int, Field(ge=50, le=64_000)] = 1000
    memory_limit_mib: Annotated[int, Field(ge=64, le=262_144)] = 1024
    # GPUs per pod; > 0 also tolerates the GPU taint and pins pods to the GPU node pool.
    gpus: Annotated[int, Field(ge=0, le=8)] = 0
    # infra/cluster.py labels GPU nodes with their accelerator and workload type.
    gpu_node_selector: dict[str, str] = Field(
        default_factory=lambda: {ACCELERATOR_LABEL: "nvidia", WORKLOAD_LABEL: "inference"}
    )
    # Where kube-prometheus-stack runs, and the labels its serviceMonitorSelector matches.
    prometheus_namespace: DnsLabel = "monitoring"
    service_monitor_labels: dict[str, str] = Field(
        default_factory=lambda: {"release": "kube-prometheus-stack"}
    )
    # Namespaces allowed to call the service besides its own (an ingress controller's, say).
    client_namespaces: tuple[DnsLabel, ...] = ()
    # The canary gate: over these, the analysis fails and the controller aborts the rollout.
    max_error_ratio: Annotated[float, Field(gt=0, lt=1)] = 0.01
    max_p95_latency_s: Annotated[float, Field(gt=0, le=60)] = 0.5
    analysis_interval_s: Annotated[int, Field(ge=30, le=3600)] = 60
    analysis_count: Annotated[int, Field(ge=1, le=60)] = 3
    failure_limit: Annotated[int, Field(ge=0, le=10)] = 1
    # How long `pulumi up` waits for the Rollout to become Healthy before failing.
    rollout_timeout_s: Annotated[int, Field(ge=60, le=7200)] = 1800

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.max_replicas < self.min_replicas:
            raise ValueError("maxReplicas must be >= minReplicas")
        if self.cpu_limit_millicores < self.cpu_millicores:
            raise ValueError("cpuLimitMillicores must be >= cpuMillicores")
        if self.memory_limit_mib < self.memory_mib:
            raise ValueError("memoryLimitMib must be >= memoryMib")
        if (self.image is None) != (self.model_version is None):
            raise ValueError("image and modelVersion are set together (make up IMAGE=...)")
        return self

    @property
    def shipped(self) -> bool:
        """Whether a model has been shipped to this stack, so there is a service to declare."""
        return self.image is not None


class ServingArgs(BaseModel):
    """Everything the component needs: the stack's settings plus what the program knows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    environment: LabelValue
    # params.yaml `package.model_name`: it names the bento and every object here.
    model_name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,40}[a-z0-9]$")]
    # kube-prometheus-stack's Prometheus, queried by the canary analysis.
    prometheus_url: Annotated[str, Field(pattern=r"^https?://\S+$")]
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


def pod_template(args: ServingArgs, service_account: str) -> dict[str, Any]:
    """The pod: non-root, read-only root filesystem, no privileges, probes on BentoML's health."""
    container = {
        "name": "bento",
        "image": args.image,
        "ports": [{"name": "http", "containerPort": SERVICE_PORT, "protocol": "TCP"}],
        "env": [
            # One BLAS/OpenMP thread per worker: more threads than cores collapse throughput.
            {"name": "OMP_NUM_THREADS", "value": "1"},
            {"name": "BENTOML_DO_NOT_TRACK", "value": "true"},
        ],
        "resources": _resources(args),
        # Loading the model can take a while; liveness only starts once the server has started.
        "startupProbe": _probe("/livez", 5, 60),
        "livenessProbe": _probe("/livez", 10, 3),
        "readinessProbe": _probe("/readyz", 5, 3),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": name, "mountPath": path} for name, path in WRITABLE_DIRS.items()],
    }
    spec: dict[str, Any] = {
        "serviceAccountName": service_account,
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": BENTO_UID,
            "runAsGroup": BENTO_UID,
            "fsGroup": BENTO_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
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
        spec["nodeSelector"] = dict(args.settings.gpu_node_selector)
        spec["tolerations"] = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
    bento = args.settings.bento_tag
    annotations = {"bentoml.com/bento-tag": bento} if bento else {}
    return {
        "metadata": {"labels": workload_labels(args), "annotations": annotations},
        "spec": spec,
    }


def rollout_spec(args: ServingArgs, service_account: str, template_name: str) -> dict[str, Any]:
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
        "template": pod_template(args, service_account),
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
            chart=ROLLOUTS_CHART,
            version=ROLLOUTS_CHART_VERSION,
            repository_opts={"repo": ROLLOUTS_REPO},
            namespace=ROLLOUTS_NAMESPACE,
            create_namespace=True,
            atomic=True,
            values=controller_values(environment, service_monitor_labels),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(after)),
        )
        self.register_outputs({"status": self.release.status})


class ModelServing(pulumi.ComponentResource):
    """The model service: a canary Rollout of the bento's image and what it needs around it."""

    rollout_name: pulumi.Output[str]
    namespace: pulumi.Output[str]
    service_url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: ServingArgs,
        opts: pulumi.ResourceOptions | None = None,
        after: Sequence[pulumi.Resource] = (),
    ) -> None:
        """`after`: what must exist first: the RolloutsController and kube-prometheus-stack."""
        super().__init__("mlops:serving:ModelServing", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = workload_labels(args)
        app = args.model_name
        settings = args.settings
        ns = settings.namespace

        def meta(
            object_name: str, component: str, annotations: dict[str, str] | None = None
        ) -> k8s.meta.v1.ObjectMetaArgsDict:
            return {
                "name": object_name,
                "namespace": ns,
                "labels": {**labels, COMPONENT_LABEL: component},
                "annotations": annotations or {},
            }

        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={
                "name": ns,
                "labels": {
                    **labels,
                    # The pods meet the "restricted" Pod Security Standard; enforce it.
                    "pod-security.kubernetes.io/enforce": "restricted",
                },
            },
            opts=child,
        )
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[namespace])

        account = k8s.core.v1.ServiceAccount(
            f"{name}-account",
            metadata=meta(app, "serving"),
            automount_service_account_token=False,
            opts=in_ns,
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
                opts=in_ns,
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
                "labels": {**labels, **settings.service_monitor_labels},
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
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, *after]),
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
            spec=rollout_spec(args, app, f"{app}-canary-health"),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[template, stable, canary, account, *after],
                custom_timeouts=pulumi.CustomTimeouts(create=timeouts, update=timeouts),
            ),
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
            opts=in_ns,
        )

        allowed_namespaces = sorted({settings.prometheus_namespace, *settings.client_namespaces})
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
            opts=in_ns,
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
