"""The serving settings."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from infra.components.serving import (
    ServingArgs,
)
from infra.settings import ServingSettings
from tests.infra.components.serving.objects import (
    ACCESS,
    COMMITTED,
    PROGRAM,
    SECTION,
    serving_args,
)
from tests.support.pulumi_unit import PROJECT
from tests.support.rendering import ACCOUNT_ID


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("image", "has a space"),
        ("minReplicas", 0),
        ("modelVersion", "abc:def/1"),
        ("gpus", -1),
        ("surge", 2),
        ("driftSchedule", "every hour"),
        ("driftWindowHours", 0),
    ],
)
def test_a_bad_setting_names_its_key(key: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=key):
        ServingSettings.model_validate({**SECTION, key: value})


def test_images_are_taken_by_digest_only() -> None:
    registry = f"{ACCOUNT_ID}.dkr.ecr.eu-west-1.amazonaws.com/{PROJECT}-dev/bentos"
    digest = f"{registry}@sha256:{'ab' * 32}"
    assert ServingSettings.model_validate({**SECTION, "image": digest}).image == digest
    for moving in (f"{registry}:3f2a9c1", f"{registry}:latest", registry, f"{digest[:-1]}"):
        with pytest.raises(ValidationError, match=r"image\n.*is not an image by digest"):
            ServingSettings.model_validate({**SECTION, "image": moving})
    # Through the stack file the key is named in full (tests/infra/settings: `serving.image`).


def test_inconsistent_settings_are_refused() -> None:
    with pytest.raises(ValidationError, match="maxReplicas must be >= minReplicas"):
        ServingSettings.model_validate({**SECTION, "minReplicas": 5, "maxReplicas": 2})
    with pytest.raises(ValidationError, match="image, modelVersion and bentoTag are set together"):
        ServingSettings.model_validate({**COMMITTED, "image": SECTION["image"]})
    with pytest.raises(ValidationError, match="modelVersion must be the version of bentoTag"):
        ServingSettings.model_validate({**SECTION, "modelVersion": "other"})


def test_no_service_before_a_model_is_shipped() -> None:
    settings = ServingSettings.model_validate(COMMITTED)
    assert not settings.shipped
    with pytest.raises(ValueError, match="no model has been shipped"):
        ServingArgs(**PROGRAM, settings=settings, access=ACCESS)
    with pytest.raises(ValueError, match="prometheus_url"):
        ServingArgs(
            **{**PROGRAM, "prometheus_url": "prometheus:9090"},
            settings=serving_args().settings,
            access=ACCESS,
        )
