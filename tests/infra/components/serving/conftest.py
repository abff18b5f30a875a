"""The rendered serving component and platform, rendered once per module."""

from __future__ import annotations

from typing import Any

import pytest

from infra.components.ci_access import DEPLOY_GROUP
from infra.components.serving import (
    ServingPlatform,
    ServingPlatformArgs,
)
from infra.helpers.iam import Irsa
from infra.settings import Naming
from tests.infra.components.serving.objects import (
    BUCKET,
    ISSUER,
    MODEL,
    render_serving,
    serving_args,
)
from tests.support.pulumi_unit import PROJECT
from tests.support.rendering import ACCOUNT_ID, render


@pytest.fixture(scope="module")
def cpu() -> dict[str, dict[str, Any]]:
    return render_serving()


@pytest.fixture(scope="module")
def gpu() -> dict[str, dict[str, Any]]:
    return render_serving(gpus=1)


@pytest.fixture(scope="module")
def platform() -> dict[str, list[dict[str, Any]]]:
    """The platform's resources, by type token."""
    args = ServingPlatformArgs(
        settings=serving_args().settings,
        environment="dev",
        model_name=MODEL,
        naming=Naming(PROJECT, "dev"),
        region="eu-west-1",
        irsa=Irsa(f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{ISSUER}", ISSUER),
        artifacts_bucket=BUCKET,
        artifacts_bucket_arn=f"arn:aws:s3:::{BUCKET}",
        key_arn=f"arn:aws:kms:eu-west-1:{ACCOUNT_ID}:key/stack",
        deploy_namespaces=["serving"],
        deploy_group=DEPLOY_GROUP,
    )
    found: dict[str, list[dict[str, Any]]] = {}
    for resource in render(lambda: ServingPlatform("serving-platform", args) and None):
        found.setdefault(resource.typ, []).append({**resource.inputs, "__name": resource.name})
    return found
