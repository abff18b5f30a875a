"""Reading a stack's settings: from the config mapping to `StackSettings`, or one error per key.

Every problem names the key a user fixes: `<project>:cluster.nodePools[0].limits.gpus` for the stack
file, `aws:region` for the region and `params.yaml identity.<key>` for the identity.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import partial
from typing import Any

import pulumi
from pulumi import RunError
from pulumi.runtime import config as runtime_config
from pydantic import ValidationError

from infra.settings.catalogue import AWS_TAG_VALUE
from infra.settings.stack import SECTION_KEYS, StackSettings
from infra.settings.training import GITHUB_APP_KEY_SETTING
from ml.core.errors import Loc, dotted_key, problems
from ml.core.identity import COST_TAG_KEYS, Identity, IdentityError, load_identity, parse_identity
from ml.core.yaml_file import ConfigFileError

# Settings read from outside the project namespace, and what the stack file calls them.
_REGION_KEY = "aws:region"
_OUTSIDE_KEYS = {"identity": "params.yaml identity", "region": _REGION_KEY}
# Pulumi secrets of the project namespace: components read them, they are no settings section.
SECRET_SETTINGS = (GITHUB_APP_KEY_SETTING,)


class SettingsError(RunError, ValueError):
    """The stack's settings are wrong; each line names a key and what is wrong with it.

    A RunError, so `pulumi up` prints the message without a Python traceback.
    """

    def __init__(self, problems: list[str], heading: str | None = "invalid stack settings") -> None:
        self.problems = problems
        # A file that is no YAML says where in one line, with no heading above it.
        lines = [f"{heading}:", *problems] if heading else problems
        super().__init__("\n  ".join(lines))


def _settings_key(project: str, loc: Loc) -> str:
    """The key a user writes for pydantic's location `loc` in StackSettings."""
    head, *rest = loc or ("",)
    base = _OUTSIDE_KEYS.get(str(head), f"{project}:{head}")
    return dotted_key(rest, prefix=(base,))


def _identity(identity: Identity | Mapping[str, Any] | None) -> Identity:
    if isinstance(identity, Identity):
        return identity
    if identity is None:
        return load_identity()
    return parse_identity(dict(identity))


def _identity_problems(project: str, identity: Identity) -> list[str]:
    """Where the identity disagrees with the Pulumi project or is no valid set of AWS tags."""
    found: list[str] = []
    if project != identity.project:
        found.append(
            f"Pulumi.yaml name: project {project!r} differs from params.yaml identity.project "
            f"{identity.project!r}; rename one so both match (`make init` renames both)"
        )
    tags = identity.cost_tags()
    for key in COST_TAG_KEYS:
        if not AWS_TAG_VALUE.match(tags.get(key, "")):
            found.append(f"params.yaml identity: cost tag {key!r} missing or not a valid AWS tag")
    return found


def _sections(config: Mapping[str, Any], project: str) -> tuple[dict[str, Any], list[str]]:
    """The StackSettings fields the config holds, and its keys that name no setting."""
    data: dict[str, Any] = {}
    unknown: list[str] = []
    namespace = f"{project}:"
    for key, value in config.items():
        if key == _REGION_KEY:
            data["region"] = value
        elif key.startswith(namespace):
            name = key.removeprefix(namespace)
            if name in SECRET_SETTINGS:
                continue
            if name not in SECTION_KEYS:
                unknown.append(f"{key}: unknown key (known: {', '.join(SECTION_KEYS)})")
                continue
            data[name] = decode_json_text(value)
    return data, unknown


def validate_settings(
    config: Mapping[str, Any],
    *,
    project: str,
    identity: Identity | Mapping[str, Any] | None = None,
) -> StackSettings:
    """Validate a stack's config mapping (`Pulumi.<stack>.yaml`'s `config:`), before any resource.

    `config` holds namespaced keys with plain values; values may also be JSON strings, as the
    Pulumi CLI hands object settings to a program. `identity` defaults to params.yaml's.
    """
    try:
        ident = _identity(identity)
    except IdentityError as error:
        raise SettingsError([f"params.yaml {error}"]) from None
    except ConfigFileError as error:
        raise SettingsError([str(error)], heading=None) from None
    sections, unknown = _sections(config, project)
    found = _identity_problems(project, ident) + unknown
    if found:
        raise SettingsError(found)
    try:
        return StackSettings.model_validate({"identity": ident, **sections})
    except ValidationError as error:
        raise SettingsError(problems(error, key=partial(_settings_key, project))) from None


def decode_json_text(value: Any) -> Any:
    """Objects arrive from the Pulumi engine as JSON text; plain values pass through."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def load_settings() -> StackSettings:
    """The running stack's settings, as the Pulumi engine passed them to this program."""
    # The engine hands the program every config key (PULUMI_CONFIG); reading them all lets a
    # misspelt key fail instead of being silently ignored.
    raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return validate_settings(raw, project=pulumi.get_project())
