"""TrainingRunners declared under the mocks, with the GitHub App configured or not."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import yaml

from infra.components.training import TrainingRunners, TrainingRunnersArgs
from infra.helpers.iam import Irsa
from infra.helpers.tags import cost_labels
from infra.settings import GITHUB_APP_KEY_SETTING, StackSettings
from infra.tools.mocks import ACCOUNT_ID
from tests.support.paths import TEST_DATA
from tests.support.pulumi_unit import KEY, PROJECT, REGION, Declared, declare, stack_settings
from tests.support.rendering import plain

# The AutoscalingRunnerSet CRD and both charts' default values, as actions/actions-runner-controller
# tags them for the pinned charts (gha-runner-scale-set-0.14.2: charts/gha-runner-scale-set*/).
ARC = TEST_DATA / "crds" / "arc"
K8S_VERSION = "1.33"
ISSUER = f"oidc.eks.{REGION}.amazonaws.com/id/TRAINING"
DVC = "arn:aws:s3:::dvc-bucket"
ARTIFACTS = "arn:aws:s3:::artifacts-bucket"
IMAGE = f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/runners:0123456789ab"
KEY_SETTING = f"{PROJECT}:{GITHUB_APP_KEY_SETTING}"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----\n"
APP_ID, INSTALLATION_ID = 123456, 7890123

RELEASE = "kubernetes:helm.sh/v3:Release"
SECRET = "kubernetes:core/v1:Secret"
NAMESPACE = "kubernetes:core/v1:Namespace"


@dataclass(frozen=True)
class App:
    """How far the stack has set the GitHub App up."""

    ids: bool = True
    key: str | None = PEM
    # The key set with `pulumi config set --secret` (else as plain config).
    secret: bool = True


def with_app(settings: StackSettings, ids: bool) -> StackSettings:
    training = settings.training.model_copy(
        update={
            "github_app_id": APP_ID if ids else None,
            "github_app_installation_id": INSTALLATION_ID if ids else None,
        }
    )
    return settings.model_copy(update={"training": training})


def training_args(settings: StackSettings) -> TrainingRunnersArgs:
    return TrainingRunnersArgs(
        settings=settings.training,
        pools=settings.cluster.pools_for("training"),
        naming=settings.naming,
        repository=settings.identity.repository,
        region=REGION,
        irsa=Irsa(f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{ISSUER}", ISSUER),
        dvc_bucket_arn=DVC,
        artifacts_bucket_arn=ARTIFACTS,
        key_arn=KEY,
        runner_image=IMAGE,
        system_pool=settings.cluster.system_pool.name,
        cost_labels=cost_labels(settings),
    )


def render(app: App | None = None, stack: str = "dev") -> Declared:
    """The component's registrations, with the App's config as `pulumi config` would set it
    (by default all of it, the key as a secret)."""
    app = app or App()
    settings = with_app(stack_settings(stack), app.ids)
    config = {} if app.key is None else {KEY_SETTING: app.key}
    pulumi.runtime.set_all_config(config, [KEY_SETTING] if app.key and app.secret else [])
    try:
        return declare(lambda provider, _: _program(settings, provider), settings)
    finally:
        pulumi.runtime.set_all_config({}, [])


def _program(settings: StackSettings, provider: aws.Provider) -> dict[str, Any]:
    cluster = k8s.Provider("k8s", kubeconfig="{}")
    runners = TrainingRunners(
        "training",
        training_args(settings),
        opts=pulumi.ResourceOptions(providers=[provider, cluster]),
    )
    return {"names": runners.scale_set_names, "role": runners.runner_role_arn}


@cache
def rendered(app: App | None = None, stack: str = "dev") -> Declared:
    return render(app, stack)


def releases(declared: Declared) -> dict[str, dict[str, Any]]:
    """Each Helm release's inputs, by its Helm release name."""
    return {r.inputs["name"]: plain(r.inputs) for r in declared.of_type(RELEASE)}


def scale_set_values(declared: Declared) -> list[dict[str, Any]]:
    return [
        inputs["values"]
        for inputs in releases(declared).values()
        if inputs["chart"].endswith("/gha-runner-scale-set")
    ]


def controller_values(declared: Declared) -> dict[str, Any]:
    (values,) = [
        inputs["values"]
        for inputs in releases(declared).values()
        if inputs["chart"].endswith("/gha-runner-scale-set-controller")
    ]
    return values


@cache
def chart_file(name: str) -> str:
    return (ARC / name).read_text(encoding="utf-8")


@cache
def runner_set_schema() -> dict[str, Any]:
    """The AutoscalingRunnerSet CRD's schema (the chart's, at the pinned version)."""
    crd = yaml.load(chart_file("actions.github.com_autoscalingrunnersets.yaml"), yaml.CSafeLoader)
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    return version["schema"]["openAPIV3Schema"]


def chart_blocks(values_file: str) -> dict[str, str]:
    """Each top-level key of a chart's values file, set or shown commented out (`# key:`), with
    the text of its block (where the chart documents the keys under it)."""
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in chart_file(values_file).splitlines():
        if found := re.match(r"(?:# ?)?([A-Za-z]\w*):", line):
            current = blocks.setdefault(found.group(1), [])
        elif current is not None:
            current.append(line)
    return {key: "\n".join(lines) for key, lines in blocks.items()}


def undocumented(values: dict[str, Any], values_file: str, free_form: set[str]) -> list[str]:
    """Keys of `values` (two levels down, except in the free-form maps: pod specs, labels,
    resources) that the chart's values file neither sets nor documents."""
    blocks = chart_blocks(values_file)
    wrong: list[str] = []
    for key, value in values.items():
        if key not in blocks:
            wrong.append(key)
        elif key not in free_form and isinstance(value, dict):
            wrong += [
                f"{key}.{sub}"
                for sub in value
                if not re.search(rf"^[\s#]*{re.escape(sub)}:", blocks[key], re.MULTILINE)
            ]
    return wrong


def restricted_violations(spec: dict[str, Any]) -> list[str]:
    """Where a pod spec breaks the "restricted" Pod Security Standard (the namespaces enforce
    it; the API server would refuse the pod)."""
    pod = spec.get("securityContext", {})
    found = [f for f in ("hostNetwork", "hostPID", "hostIPC") if spec.get(f)]
    found += [v["name"] for v in spec.get("volumes", []) if "hostPath" in v]
    for c in spec["containers"]:
        ctx = {**pod, **c.get("securityContext", {})}
        name = c["name"]
        if ctx.get("runAsNonRoot") is not True or ctx.get("runAsUser") == 0:
            found.append(f"{name}: may run as root")
        if c.get("securityContext", {}).get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allows privilege escalation")
        if c.get("securityContext", {}).get("capabilities", {}).get("drop") != ["ALL"]:
            found.append(f"{name}: keeps capabilities")
        if ctx.get("seccompProfile", {}).get("type") not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: no seccomp profile")
        if ctx.get("privileged"):
            found.append(f"{name}: privileged")
    return found
