"""Offline plan: run the real Pulumi program against mocks and print what `pulumi up` declares.

    python -m infra.tools.plan --stack dev [--format text|json] [--without-model]

The stack's settings come from `Pulumi.<stack>.yaml` and reach the program exactly as the
Pulumi CLI hands them over (namespaced keys in PULUMI_CONFIG, objects as JSON text). No CLI,
credentials or network are needed. `--format json` prints one object:

    {"project", "stack",
     "resources": [{"urn", "type", "name", "parent", "provider", "id", "inputs", "aliases",
                    "dependencies"}],
     "counts": {type: n}, "outputs": {name: value}, "model": bento tag or null}

sorted, so the same program and settings always print the same bytes. `id` is the mock's
physical id (null for components): references between resources (a node group's subnets) can
be followed by it. `aliases` lists the URNs a renamed resource had before, under which the engine
still finds its state (a component's old type token, and what it implies for its children).

CI sets the stack's `serving` image, model version and bento tag when it ships a model, never
in the committed stack file. So that the plan shows the service too, a stack file without an
image is planned as if the bento of reports/bento.json had been shipped (`make up BENTO=...`),
its image in the stack's registry by a stand-in digest derived from the bento's tag;
`--without-model` plans the stack file as it is.

A secret of the stack file (`key: {secure: <ciphertext>}`, from `pulumi config set --secret`)
only the stack's secrets provider can decrypt: the plan hands the program a stand-in, as a
secret (listed in PULUMI_CONFIG_SECRET_KEYS, as the CLI does), and shows it as `[secret]`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import runpy
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.config import set_all_config
from pulumi.runtime.settings import get_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra.settings import Naming, ServingSettings, SettingsError
from infra.tools.mocks import (
    ACCOUNT_ID,
    RecordingMonitor,
    Registration,
    StackMocks,
    program_event_loop,
)
from ml.core.artifacts import ShipError, bento_report, split_tag
from ml.core.cli import emit
from ml.core.paths import REPO_ROOT
from ml.core.yaml_file import ConfigFileError, load_mapping, mapping_at

PROGRAM = REPO_ROOT / "infra"
DISABLED_PROVIDERS_KEY = "pulumi:disable-default-providers"
HIDDEN = "[secret]"
UNKNOWN = "[unknown]"


class PlanError(RuntimeError):
    """The stack could not be planned; the message says why."""


def project_name(root: Path = REPO_ROOT) -> str:
    try:
        name = load_mapping(root / "Pulumi.yaml").get("name")
    except ConfigFileError as error:
        raise PlanError(str(error)) from None
    if not isinstance(name, str) or not name:
        raise PlanError("Pulumi.yaml: name: missing; it names the project")
    return name


def stack_config(stack: str, root: Path = REPO_ROOT) -> dict[str, Any]:
    """The `config:` mapping of Pulumi.<stack>.yaml."""
    path = root / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = sorted(p.name.split(".")[1] for p in root.glob("Pulumi.*.yaml"))
        raise PlanError(f"no stack file {path.name} (stacks: {', '.join(known)})")
    try:
        return dict(mapping_at(path, load_mapping(path), "config"))
    except ConfigFileError as error:
        raise PlanError(str(error)) from None


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def readable_config(config: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The config with each secret of the stack file replaced by a stand-in the program can
    read, and the keys of those secrets."""
    secrets = sorted(key for key, value in config.items() if _is_secure(value))
    return {**config, **dict.fromkeys(secrets, HIDDEN)}, secrets


def _alias(field: str) -> str:
    return ServingSettings.model_fields[field].alias or field


def stand_in_digest(tag: str) -> str:
    """The plan's stand-in for the digest of the bento's image: the stack takes images by digest
    only, and this one, derived from the tag, keeps a plan's bytes the same for the same bento
    (no image has it)."""
    return "sha256:" + hashlib.sha256(f"offline plan stand-in for {tag}".encode()).hexdigest()


def with_shipped_model(
    config: dict[str, Any], project: str, bento_file: Path | None = None
) -> tuple[dict[str, Any], str | None]:
    """The config with the bento of reports/bento.json as the shipped model, when the stack
    file ships none; and that bento's tag (None when nothing was added)."""
    key = f"{project}:serving"
    serving = config.get(key)
    if not isinstance(serving, dict) or serving.get(_alias("image")) is not None:
        return config, None
    try:
        report = bento_report(bento_file) if bento_file else bento_report()
        tag = str(report["bento"])
        _, version = split_tag(tag)
    except (ShipError, KeyError, TypeError):
        return config, None
    naming = Naming(project, str(config.get(f"{project}:environment", "")))
    region = config.get("aws:region")
    registry = f"{ACCOUNT_ID}.dkr.ecr.{region}.amazonaws.com"
    image = f"{registry}/{naming.ecr_repository}@{stand_in_digest(tag)}"
    shipped = {
        **serving,
        _alias("image"): image,
        _alias("model_version"): version,
        _alias("bento_tag"): tag,
    }
    return {**config, key: shipped}, tag


def cli_config(config: dict[str, Any]) -> dict[str, str]:
    """Config as the CLI passes it to a program: strings, with other values as JSON text."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def _plain(value: Any) -> Any:
    """Inputs as JSON: secrets and unknowns shown as the CLI shows them."""
    if rpc.is_rpc_secret(value):
        return HIDDEN
    if value == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf carries every number as a double
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


@dataclass(frozen=True)
class Plan:
    project: str
    stack: str
    resources: list[Registration]
    outputs: dict[str, Any]
    # The bento planned as shipped (reports/bento.json), when the stack file ships none.
    model: str | None = None

    @property
    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(r.type for r in self.resources).items()))

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "stack": self.stack,
            "resources": [
                {
                    "urn": r.urn,
                    "type": r.type,
                    "name": r.name,
                    "parent": r.parent,
                    "provider": r.provider,
                    "id": r.id,
                    "inputs": _plain(r.inputs),
                    "aliases": list(r.aliases),
                    "dependencies": list(r.dependencies),
                }
                for r in self.resources
            ],
            "counts": self.counts,
            "outputs": self.outputs,
            "model": self.model,
        }

    def to_text(self) -> str:
        lines = [
            f"Offline plan of {self.project}/{self.stack}: pulumi up would declare "
            f"{len(self.resources)} resources.",
        ]
        if self.model:
            lines.append(
                f"The service is planned as if {self.model} (reports/bento.json) were shipped."
            )
        lines += ["", "Resources by type:"]
        lines += [f"  {n:4d}  {t}" for t, n in self.counts.items()]
        lines += ["", "Component tree:"]
        children: dict[str | None, list[Registration]] = {}
        for r in self.resources:
            children.setdefault(r.parent, []).append(r)

        def walk(parent: str | None, indent: str) -> None:
            kids = sorted(children.get(parent, []), key=lambda r: (r.type, r.name))
            for i, r in enumerate(kids):
                last = i == len(kids) - 1
                lines.append(f"{indent}{'└─ ' if last else '├─ '}{r.type}  {r.name}")
                walk(r.urn, indent + ("   " if last else "│  "))

        walk(None, "")
        lines += ["", "Outputs:"]
        lines += [f"  {k}: {json.dumps(v)}" for k, v in self.outputs.items()]
        return "\n".join(lines)


def _resolve_outputs() -> dict[str, Any]:
    root = get_root_resource()
    exported = dict(getattr(root, "outputs", {}) or {})

    async def resolve(value: Any) -> Any:
        output = pulumi.Output.from_input(value)
        if await output.is_secret():
            return HIDDEN
        return _plain(await output.future())

    return {name: _sync_await(resolve(exported[name])) for name in sorted(exported)}


def run(stack: str, root: Path = REPO_ROOT, *, with_model: bool = True) -> Plan:
    """Run the program (`infra/__main__.py`, as Pulumi.yaml's `main` says) under mocks."""
    project = project_name(root)
    config = stack_config(stack, root)
    region = config.get("aws:region")
    if not isinstance(region, str):
        raise PlanError(f"Pulumi.{stack}.yaml: aws:region is not set")
    model = None
    if with_model:
        config, model = with_shipped_model(config, project)
    config, secret_keys = readable_config(config)
    # The CLI's channel for config, so the program reads it exactly as under `pulumi up`.
    os.environ.update(
        PULUMI_CONFIG=json.dumps(cli_config(config)),
        PULUMI_CONFIG_SECRET_KEYS=json.dumps(secret_keys),
    )
    set_all_config({}, secret_keys)
    mocks = StackMocks(region, config.get(DISABLED_PROVIDERS_KEY) or [])
    monitor = RecordingMonitor(mocks)

    def program() -> None:
        runpy.run_path(str(PROGRAM), run_name="__main__")

    program_event_loop()
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    _sync_await(run_pulumi_func(program))
    resources = sorted(monitor.registrations, key=lambda r: r.urn)
    return Plan(project, stack, resources, _resolve_outputs(), model)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--stack", default=os.environ.get("STACK", "dev"))
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--without-model",
        action="store_true",
        help="plan the stack file as it is, without the bento of reports/bento.json",
    )
    args = parser.parse_args(argv)
    try:
        plan = run(args.stack, with_model=not args.without_model)
    except (SettingsError, PlanError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    emit(
        json.dumps(plan.to_json(), indent=2, sort_keys=True)
        if args.format == "json"
        else plan.to_text()
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
