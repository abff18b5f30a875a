"""ModelServing: the canary Rollout of one shipped model, what it needs around it, and the drift
CronJob."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from infra.components.serving.args import ServingArgs
from infra.components.serving.drift_job import drift_cronjob_spec
from infra.components.serving.names import (
    IRSA_ANNOTATION,
    MODEL_SERVING_TYPE,
    SERVICE_PORT,
    TIMEOUT_ANNOTATION,
    WAIT_FOR_ANNOTATION,
    drift_service_account,
)
from infra.components.serving.pod import workload_labels
from infra.components.serving.rollout import analysis_template_spec, rollout_spec
from infra.components.serving.specs import (
    hpa_spec,
    network_policy_spec,
    pdb_spec,
    service_monitor_spec,
    service_spec,
)
from infra.helpers.labels import COMPONENT_LABEL
from infra.helpers.options import dependencies

Needs = pulumi.Input[pulumi.Resource]


@dataclass(frozen=True)
class _Children:
    """Declares the children of one ModelServing: named after it, parented to it, in the
    model's namespace, and waiting for what the component depends on (Pulumi does not hand a
    component's depends_on down to its children)."""

    name: str
    args: ServingArgs
    parent: pulumi.Resource
    after: Sequence[Needs]

    @property
    def app(self) -> str:
        return self.args.model_name

    def opts(
        self, *needs: Needs, timeouts: pulumi.CustomTimeouts | None = None
    ) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(
            parent=self.parent, depends_on=[*needs, *self.after], custom_timeouts=timeouts
        )

    def meta(
        self, object_name: str, component: str, annotations: Mapping[str, Any] | None = None
    ) -> k8s.meta.v1.ObjectMetaArgsDict:
        return {
            "name": object_name,
            "namespace": self.args.settings.namespace,
            "labels": {**workload_labels(self.args), COMPONENT_LABEL: component},
            "annotations": dict(annotations or {}),
        }

    def account(
        self, suffix: str, account_name: str, component: str, role_arn: pulumi.Input[str]
    ) -> k8s.core.v1.ServiceAccount:
        """A service account the pods' IAM role trusts (IRSA); no Kubernetes token mounted."""
        return k8s.core.v1.ServiceAccount(
            f"{self.name}-{suffix}",
            metadata=self.meta(account_name, component, {IRSA_ANNOTATION: role_arn}),
            automount_service_account_token=False,
            opts=self.opts(),
        )

    def service(self, object_name: str, component: str, headless: bool) -> k8s.core.v1.Service:
        return k8s.core.v1.Service(
            f"{self.name}-{object_name}",
            metadata=self.meta(object_name, component),
            spec=service_spec(self.app, headless),
            opts=self.opts(),
        )

    def service_monitor(self, metrics: k8s.core.v1.Service) -> None:
        ns = self.args.settings.namespace
        k8s.apiextensions.CustomResource(
            f"{self.name}-service-monitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata={
                "name": self.app,
                "namespace": ns,
                "labels": {**workload_labels(self.args), **self.args.service_monitor_labels},
            },
            spec=service_monitor_spec(self.app, ns),
            opts=self.opts(metrics),
        )

    def analysis_template(self, template_name: str) -> k8s.apiextensions.CustomResource:
        return k8s.apiextensions.CustomResource(
            f"{self.name}-analysis",
            api_version="argoproj.io/v1alpha1",
            kind="AnalysisTemplate",
            metadata=self.meta(template_name, "analysis"),
            spec=analysis_template_spec(self.args),
            opts=self.opts(),
        )

    def rollout(self, template_name: str, *needs: Needs) -> k8s.apiextensions.CustomResource:
        timeout_s = self.args.settings.rollout_timeout_s
        wait = f"{timeout_s}s"
        annotations = {
            # Healthy: every step passed and the new version is stable. An aborted canary is
            # Degraded, so `pulumi up` times out and fails.
            WAIT_FOR_ANNOTATION: "jsonpath={.status.phase}=Healthy",
            TIMEOUT_ANNOTATION: str(timeout_s),
        }
        return k8s.apiextensions.CustomResource(
            f"{self.name}-rollout",
            api_version="argoproj.io/v1alpha1",
            kind="Rollout",
            metadata=self.meta(self.app, "serving", annotations),
            spec=rollout_spec(self.args, self.app, template_name, self.args.access.bucket),
            opts=self.opts(*needs, timeouts=pulumi.CustomTimeouts(create=wait, update=wait)),
        )

    def drift_job(self, drift_account: k8s.core.v1.ServiceAccount) -> None:
        account = drift_service_account(self.app)
        k8s.batch.v1.CronJob(
            f"{self.name}-drift",
            metadata=self.meta(f"{self.app}-drift", "drift"),
            # The Kubernetes API's own camelCase shape (it shares the pod security settings
            # with the Rollout's template); the SDK passes such keys through unchanged.
            spec=cast(Any, drift_cronjob_spec(self.args, account, self.args.access.bucket)),
            opts=self.opts(drift_account),
        )

    def scaling(self, rollout: k8s.apiextensions.CustomResource) -> None:
        """The HPA (once the Rollout exists) and the PodDisruptionBudget."""
        settings = self.args.settings
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{self.name}-hpa",
            metadata=self.meta(self.app, "serving"),
            spec=hpa_spec(
                self.app, settings.min_replicas, settings.max_replicas, settings.target_cpu_percent
            ),
            # The Rollout already waits for the component's dependencies.
            opts=pulumi.ResourceOptions(parent=self.parent, depends_on=[rollout]),
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{self.name}-pdb",
            metadata=self.meta(self.app, "serving"),
            spec=pdb_spec(self.app),
            opts=self.opts(),
        )

    def network_policy(self) -> None:
        allowed = {self.args.prometheus_namespace, *self.args.settings.client_namespaces}
        k8s.networking.v1.NetworkPolicy(
            f"{self.name}-network-policy",
            metadata=self.meta(self.app, "serving"),
            spec=network_policy_spec(self.app, sorted(allowed)),
            opts=self.opts(),
        )


class ModelServing(pulumi.ComponentResource):
    """The model service: a canary Rollout of the bento's image, what it needs around it, and
    the drift CronJob.

    Its children wait for this component's `opts.depends_on`: the ServingPlatform (namespace,
    roles), the RolloutsController and kube-prometheus-stack (the CRDs), the Pushgateway.
    """

    rollout_name: pulumi.Output[str]
    namespace: pulumi.Output[str]
    service_url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: ServingArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(MODEL_SERVING_TYPE, name, None, opts)
        children = _Children(name, args, self, dependencies(opts))
        app = args.model_name
        access = args.access
        account = children.account("account", app, "serving", access.model_role_arn)
        drift_account = children.account(
            "drift-account", drift_service_account(app), "drift", access.drift_role_arn
        )
        # Argo Rollouts points these two at the stable and the canary pods.
        stable = children.service(app, "serving", headless=False)
        canary = children.service(f"{app}-canary", "canary", headless=False)
        # All pods of every version, scraped once each (stable and canary share pods at rest).
        metrics = children.service(f"{app}-metrics", "metrics", headless=True)
        children.service_monitor(metrics)

        template_name = f"{app}-canary-health"
        template = children.analysis_template(template_name)
        rollout = children.rollout(template_name, template, stable, canary, account)
        children.drift_job(drift_account)
        children.scaling(rollout)
        children.network_policy()

        ns = args.settings.namespace
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
