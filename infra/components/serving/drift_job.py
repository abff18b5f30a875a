"""The drift CronJob's spec: the drift module of the model's own image, run from that image."""

from __future__ import annotations

from typing import Any

import pulumi

from infra.components.serving.args import ServingArgs
from infra.components.serving.names import (
    BENTO_SRC,
    DISPATCH_SECRET,
    DISPATCH_SECRET_KEY,
    DISPATCH_TOKEN_ENV,
    DRIFT_OUT,
    WRITABLE_DIRS,
)
from infra.components.serving.pod import (
    CONTAINER_SECURITY,
    POD_SECURITY,
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


def drift_container(args: ServingArgs, bucket: pulumi.Input[str]) -> dict[str, Any]:
    return {
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
            *aws_env(args.region),
        ],
        "resources": {
            "requests": {"cpu": "100m", "memory": "512Mi"},
            "limits": {"memory": "1Gi"},
        },
        "securityContext": CONTAINER_SECURITY,
        "volumeMounts": [{"name": "tmp", "mountPath": WRITABLE_DIRS["tmp"]}],
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
            "automountServiceAccountToken": True,
            "restartPolicy": "Never",
            "securityContext": POD_SECURITY,
            "containers": [drift_container(args, bucket)],
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
                # ml.monitoring.drift exits non-zero only when it could not judge or publish: a
                # retry would repeat the same failure (and could dispatch twice).
                "backoffLimit": 0,
                "activeDeadlineSeconds": 1800,
                "ttlSecondsAfterFinished": 86_400,
                "template": pod,
            },
        },
    }
