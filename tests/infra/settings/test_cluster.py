"""Cluster settings: the production API endpoint stays private."""

from __future__ import annotations

from infra.settings import validate_settings
from tests.infra.settings.stacks import stack_config
from tests.support.pulumi_unit import PROJECT, REPO_ROOT


def test_prod_api_is_private_by_default() -> None:
    settings = validate_settings(stack_config("prod"), project=PROJECT).cluster
    assert settings.endpoint_public_access is False
    assert settings.public_access_cidrs == []
    assert "0.0.0.0/0" not in (REPO_ROOT / "Pulumi.prod.yaml").read_text(encoding="utf-8")
