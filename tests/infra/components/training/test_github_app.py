"""The GitHub App's Secret: declared from the stack settings and the Pulumi secret once all are
set, a warning (and the scale sets all the same) until then, and a plain key refused."""

from __future__ import annotations

import pulumi
import pytest

from infra.components.training.names import GITHUB_APP_SECRET, README_SECTION
from infra.settings import SettingsError
from tests.infra.components.training.objects import (
    APP_ID,
    INSTALLATION_ID,
    KEY_SETTING,
    PEM,
    RELEASE,
    SECRET,
    App,
    render,
    rendered,
    scale_set_values,
    stack_settings,
)
from tests.support.pulumi_unit import Declared
from tests.support.rendering import is_secret, plain


@pytest.fixture
def warnings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    found: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *_, **__: found.append(message))
    return found


def _scale_sets(declared: Declared) -> list[str]:
    return [r.name for r in declared.of_type(RELEASE)]


def test_a_configured_app_becomes_the_secret_the_scale_sets_name(warnings: list[str]) -> None:
    declared = render(App())
    (secret,) = declared.of_type(SECRET)
    assert is_secret(secret.inputs["stringData"])
    inputs = plain(secret.inputs)
    assert inputs["metadata"]["name"] == GITHUB_APP_SECRET
    assert inputs["metadata"]["namespace"] == stack_settings("dev").training.namespace
    # The keys ARC's chart documents for a pre-defined GitHub App secret, ids as strings.
    assert inputs["stringData"] == {
        "github_app_id": str(APP_ID),
        "github_app_installation_id": str(INSTALLATION_ID),
        "github_app_private_key": PEM,
    }
    for values in scale_set_values(declared):
        assert values["githubConfigSecret"] == GITHUB_APP_SECRET
    assert warnings == []


def test_scale_sets_wait_for_the_secret() -> None:
    declared = rendered()
    (secret,) = declared.of_type(SECRET)
    sets = [r for r in declared.of_type(RELEASE) if r.name != "training-controller"]
    assert sets
    assert all(secret.urn in r.dependencies for r in sets)


@pytest.mark.parametrize(
    ("app", "missing"),
    [
        (App(ids=False, key=None), "training.githubAppId, githubAppInstallationId, the secret"),
        (App(ids=True, key=None), "not set: the secret githubAppPrivateKey"),
        (App(ids=False), "not set: training.githubAppId, githubAppInstallationId)"),
    ],
)
def test_until_the_app_is_configured_only_the_secret_is_missing(
    app: App, missing: str, warnings: list[str]
) -> None:
    declared = render(app)
    assert declared.of_type(SECRET) == []
    assert sorted(_scale_sets(declared)) == sorted(_scale_sets(rendered()))
    (warning,) = warnings
    assert missing in warning
    assert "no runner registers" in warning and README_SECTION in warning


def test_a_private_key_in_plain_config_stops_the_program() -> None:
    with pytest.raises(SettingsError, match=f"{KEY_SETTING}: the GitHub App's private key is"):
        render(App(secret=False))
