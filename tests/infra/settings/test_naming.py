"""Naming: derived names fit AWS limits, and too-long names fail on environment."""

from __future__ import annotations

import pytest

from infra.settings import Naming, SettingsError, state_bucket_name, validate_settings
from tests.infra.settings.stacks import STACKS, identity, stack_config
from tests.support.pulumi_unit import PROJECT, REPO_ROOT


def test_names_fit_aws_limits_for_both_stacks() -> None:
    for stack in STACKS:
        assert validate_settings(stack_config(stack), project=PROJECT).naming.too_long() == []
    assert len(state_bucket_name("p" * 32, "0" * 12)) <= 63


def test_names_too_long_for_s3_fail_on_environment() -> None:
    project = "p" * 30 + "xy"
    config = {k.replace(PROJECT, project): v for k, v in stack_config("dev").items()}
    config[f"{project}:environment"] = "staging-eu-west1"
    with pytest.raises(SettingsError) as raised:
        validate_settings(config, project=project, identity={**identity(), "project": project})
    message = str(raised.value)
    assert f"{project}:environment: names derived from identity.project" in message
    assert "S3 bucket names allow 63" in message


def test_naming_is_derived_from_identity() -> None:
    naming = Naming("acme", "dev")
    assert naming.bucket("dvc", "123456789012") == "acme-dev-dvc-123456789012"
    assert naming.cluster_log_group == "/aws/eks/acme-dev/cluster"
    assert naming.too_long() == []


def test_every_role_the_stack_names_fits_the_length_check() -> None:
    """Naming.too_long checks ROLE_PURPOSES; every other role purpose must be no longer."""
    import re

    from infra.settings import ROLE_PURPOSES

    sources = "\n".join(p.read_text() for p in (REPO_ROOT / "infra").rglob("*.py"))
    used = set(re.findall(r"\.role\(\s*\"([a-z0-9-]+)\"\s*\)", sources))
    # CI roles are named through CiAccess._role(args, "<purpose>", ...).
    used |= set(re.findall(r"_role\(\s*args,\s*\"([a-z0-9-]+)\"", sources))
    assert {"cluster", "ebs-csi", "alertmanager", "serving", "drift", "ci-infra"} <= used
    assert max(map(len, used)) <= max(map(len, ROLE_PURPOSES))
