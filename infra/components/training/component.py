"""TrainingRunners: GitHub Actions runners on the cluster's training GPU pools."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from infra.components.serving.platform import CONTAINER_DEFAULTS
from infra.components.training.access import runner_access
from infra.components.training.args import TrainingRunnersArgs
from infra.components.training.controller import controller_release
from infra.components.training.github_app import app_secret
from infra.components.training.names import (
    CONTROLLER_NAMESPACE,
    TRAINING_TYPE,
    scale_set_name,
)
from infra.components.training.scale_set import scale_set_release
from infra.helpers.options import dependencies

# Every pod in both namespaces meets the "restricted" Pod Security Standard; enforce it.
POD_SECURITY_LABEL = "pod-security.kubernetes.io/enforce"


class TrainingRunners(pulumi.ComponentResource):
    """ARC's controller and a runner scale set per training pool, the runners' service account
    and IAM role, and the GitHub App's Secret once the App is configured.

    Its Kubernetes objects wait for this component's `opts.depends_on` (the cluster's nodes).
    """

    scale_set_names: dict[str, str]
    # The first training pool's set: what the repository variable TRAINING_RUNNER names.
    default_scale_set: str | None
    runner_role_arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: TrainingRunnersArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TRAINING_TYPE, name, None, opts)
        labels = dict(args.cost_labels)
        after = dependencies(opts)
        runners_ns = args.settings.namespace
        controller_ns = self._namespace(name, CONTROLLER_NAMESPACE, labels, after)
        runners = self._namespace(name, runners_ns, labels, after)
        defaults = self._container_defaults(name, runners_ns, labels, runners)
        namespaces = [controller_ns, runners, defaults]
        self._deny_ingress(name, runners_ns, labels, namespaces)
        account, role = runner_access(name, args, labels, parent=self, after=namespaces)
        secret = app_secret(name, args, labels, parent=self, after=namespaces)
        self.controller = controller_release(
            name, labels, args.system_pool, runners_ns, parent=self, after=namespaces
        )
        # The sets need the controller's CRDs and service account, and the runners' account.
        ready = [self.controller, account, *([secret] if secret else [])]
        self.scale_sets = [
            scale_set_release(name, args, pool, labels, parent=self, after=ready)
            for pool in args.pools
        ]
        self.scale_set_names = {p.name: scale_set_name(args.naming, p.name) for p in args.pools}
        self.default_scale_set = next(iter(self.scale_set_names.values()), None)
        self.runner_role_arn = role.arn
        self.register_outputs(
            {"scaleSetNames": self.scale_set_names, "runnerRoleArn": self.runner_role_arn}
        )

    def _namespace(
        self, name: str, ns: str, labels: Mapping[str, str], after: Sequence[pulumi.Resource]
    ) -> k8s.core.v1.Namespace:
        return k8s.core.v1.Namespace(
            f"{name}-{ns}",
            metadata={"name": ns, "labels": {**labels, POD_SECURITY_LABEL: "restricted"}},
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(after)),
        )

    def _container_defaults(
        self, name: str, ns: str, labels: Mapping[str, str], namespace: pulumi.Resource
    ) -> k8s.core.v1.LimitRange:
        # For pods started there by hand (a debug pod): the runner pods set their own. None in
        # the controller's namespace, whose pods leave the CPU limit off on purpose.
        return k8s.core.v1.LimitRange(
            f"{name}-{ns}-defaults",
            metadata={"name": "container-defaults", "namespace": ns, "labels": dict(labels)},
            spec={"limits": [CONTAINER_DEFAULTS]},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]),
        )

    def _deny_ingress(
        self, name: str, ns: str, labels: Mapping[str, str], after: Sequence[pulumi.Resource]
    ) -> None:
        # Nothing connects to a runner: jobs only call out (GitHub, S3, ECR).
        k8s.networking.v1.NetworkPolicy(
            f"{name}-deny-ingress",
            metadata={"name": "deny-ingress", "namespace": ns, "labels": dict(labels)},
            spec={"pod_selector": {}, "policy_types": ["Ingress"]},
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(after)),
        )
