"""What the committed stack files hold: every section, no identity, a known region."""

from __future__ import annotations

import json

import pytest

from infra.settings import SECTION_KEYS, catalogue, validate_settings
from ml.core.identity import load_identity
from tests.infra.settings.stacks import NS, STACKS, stack_config
from tests.support.pulumi_unit import PROJECT, REPO_ROOT


@pytest.mark.parametrize("stack", STACKS)
def test_stack_files_validate_and_spell_every_section_out(stack: str) -> None:
    config = stack_config(stack)
    settings = validate_settings(config, project=PROJECT)
    assert settings.environment == stack
    assert settings.region == config["aws:region"]
    assert sorted(k.removeprefix(NS) for k in config if k.startswith(NS)) == sorted(SECTION_KEYS)


@pytest.mark.parametrize("stack", STACKS)
def test_identity_lives_only_in_params(stack: str) -> None:
    text = (REPO_ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")
    ident = load_identity()
    for value in (ident.team, ident.cost_center, ident.repository):
        assert value not in text
    assert text.count(PROJECT) == text.count(NS)  # only as the config namespace


def test_cli_json_strings_validate_like_yaml_values() -> None:
    # The Pulumi CLI hands object settings to the program as JSON text.
    config = stack_config("prod")
    as_cli = {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    assert validate_settings(as_cli, project=PROJECT) == validate_settings(config, project=PROJECT)


API_SECTION = "Reaching the cluster's API"


def test_the_readme_section_the_stack_files_point_at_exists() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = " ".join(readme.split(f"### {API_SECTION}\n", 1)[1].split("\n#", 1)[0].split())
    for key in ("cluster.endpointPublicAccess", "cluster.publicAccessCidrs", "runs-on:"):
        assert key in section
    assert "Actions Runner Controller" in section
    for stack in STACKS:
        text = (REPO_ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")
        assert f"README: {API_SECTION}" in text


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_file_names_a_known_region(stack: str) -> None:
    assert stack_config(stack)["aws:region"] in catalogue.AWS_REGIONS
