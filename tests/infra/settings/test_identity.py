"""The params identity: a bad or unreadable params file fails the settings naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.settings import SettingsError, loading, validate_settings
from ml.core.identity import load_identity
from tests.infra.settings.stacks import identity, stack_config
from tests.support.pulumi_unit import PROJECT


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"team": None}, "params.yaml identity.team: Field required"),
        ({"repository": "not a repo"}, "params.yaml identity.repository"),
        ({"cost-center": "has spaces"}, "params.yaml identity.cost-center"),
    ],
)
def test_bad_identity_fails_naming_the_params_key(change: dict[str, Any], expected: str) -> None:
    ident = {**identity(), **change}
    ident = {k: v for k, v in ident.items() if v is not None}
    with pytest.raises(SettingsError, match=r"params\.yaml") as raised:
        validate_settings(stack_config("dev"), project=PROJECT, identity=ident)
    assert expected in str(raised.value)


def test_pulumi_project_must_match_identity() -> None:
    with pytest.raises(SettingsError) as raised:
        validate_settings(stack_config("dev"), project="renamed-project")
    message = str(raised.value)
    assert "Pulumi.yaml name" in message and "'renamed-project'" in message
    assert f"identity.project {PROJECT!r}" in message


def test_an_unreadable_params_file_fails_the_settings_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "params.yaml"
    bad.write_text("identity:\n  team: a: b\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(loading, "load_identity", lambda: load_identity(bad))
    with pytest.raises(SettingsError) as raised:
        validate_settings(stack_config("dev"), project=PROJECT)
    assert (
        str(raised.value)
        == "params.yaml:2:10: YAML syntax error: mapping values are not allowed here"
    )
    assert raised.value.problems == [str(raised.value)]
