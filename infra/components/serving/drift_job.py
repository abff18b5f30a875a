"""The drift CronJob's spec: the drift module of the model's own image, run from that image."""

from __future__ import annotations

from typing import Any

import pulumi

from infra.components.serving.args import ServingArgs
from infra.components.serving.names import (
    BENTO_SRC,
    DISPATCH_SECRET,
    DISPATCH_SECRET_KEY,
    DISPATCH_TOKEN_DIR,
    DISPATCH_TOKEN_FILE_ENV,
    DRIFT_OUT,
    WRITABLE_DIRS,
)
from infra.components.serving.pod import (
    CONTAINER_SECURITY,
    POD_SECURITY,
    SERVICE_ACCOUNT_TOKEN,
    aws_env,
    predictions_url,
    workload_labels,
)
from infra.helpers.labels import COMPONENT_LABEL
from ml.core.artifacts import reference_key


def drift_command(args: ServingArgs, bucket: pulumi.Input[str]) -> list[Any]:
    """`python -m <the image's drift module>` on the logged requests of the last hours against the
    training rows published beside the bento; the verdict goes to the Pushgateway, drift starts
    retraining."""
    reference = reference_key(args.model_name, args.model_version)
    return [
        "python",
        "-m",
        args.settings.drift_entrypoint,
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


# The check reads some hours of logged requests into memory and compares them with the training
# rows, on one core: enough for the template's traffic, and a runaway check can't starve the
# model's pods on the node. Raise them here if the logged hours outgrow a gibibyte.
DRIFT_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "512Mi"},
    "limits": {"cpu": "1000m", "memory": "1Gi"},
}
DISPATCH_VOLUME = "dispatch-token"


def dispatch_token_volume() -> dict[str, Any]:
    """The optional Secret as a file only the job's user can read: no secret, an empty mount
    (ml/monitoring/dispatch.py then prints the command instead)."""
    return {
        "name": DISPATCH_VOLUME,
        "secret": {
            "secretName": DISPATCH_SECRET,
            "optional": True,
            # 0400; the kubelet adds group read for the pod's fsGroup (the job's own group).
            "defaultMode": 0o400,
            "items": [{"key": DISPATCH_SECRET_KEY, "path": DISPATCH_SECRET_KEY}],
        },
    }


def drift_container(args: ServingArgs, bucket: pulumi.Input[str]) -> dict[str, Any]:
    return {
        "name": "drift",
        "image": args.image,
        "workingDir": BENTO_SRC,
        "command": drift_command(args, bucket),
        "env": [
            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
            {
                "name": DISPATCH_TOKEN_FILE_ENV,
                "value": f"{DISPATCH_TOKEN_DIR}/{DISPATCH_SECRET_KEY}",
            },
            *aws_env(args.region),
        ],
        "resources": DRIFT_RESOURCES,
        "securityContext": CONTAINER_SECURITY,
        "volumeMounts": [
            {"name": "tmp", "mountPath": WRITABLE_DIRS["tmp"]},
            {"name": DISPATCH_VOLUME, "mountPath": DISPATCH_TOKEN_DIR, "readOnly": True},
        ],
    }


def drift_cronjob_spec(
    args: ServingArgs, service_account: str, bucket: pulumi.Input[str]
) -> dict[str, Any]:
    """The drift check as a CronJob of the model's own image (which holds the ml package)."""
    labels = {**workload_labels(args), COMPONENT_LABEL: "drift"}
    pod = {
        "metadata": {"labels": labels},
        "spec": {
            "serviceAccountName": service_account,
            "automountServiceAccountToken": SERVICE_ACCOUNT_TOKEN,
            "restartPolicy": "Never",
            "securityContext": POD_SECURITY,
            "containers": [drift_container(args, bucket)],
            "volumes": [
                {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
                dispatch_token_volume(),
            ],
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
                # ml.monitoring.drift exits non-zero only when it could not judge or publish: a
                # retry would repeat the same failure (and could dispatch twice).
                "backoffLimit": 0,
                "activeDeadlineSeconds": 1800,
                "ttlSecondsAfterFinished": 86_400,
                "template": pod,
            },
        },
    }
