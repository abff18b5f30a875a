"""Pulumi programs run offline for tests: a component under mocks, or a whole stack's plan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks

from infra.tools.mocks import program_event_loop
from ml.core.identity import load_identity

# How the SDK marks a secret value on the wire: {SIG: SECRET_SIG, "value": ...}.
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_SIG = "4dabf18193072939515e22adb298388d"
ACCOUNT_ID = "123456789012"


@dataclass(frozen=True)
class Declared:
    typ: str
    name: str
    inputs: dict[str, Any]
    # Input keys whose value the program marked secret.
    secret_keys: frozenset[str]


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(_SIG) == _SECRET_SIG


def plain(value: Any) -> Any:
    """Secrets unwrapped, and integral floats (protobuf has only floats) back to int."""
    if is_secret(value):
        return plain(value["value"])
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


class Recorder(Mocks):
    """Echoes inputs as outputs, with the few computed outputs our components read."""

    def __init__(self) -> None:
        self.resources: list[MockResourceArgs] = []

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        outputs = dict(args.inputs)
        if args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = "r" * int(args.inputs["length"])
        if args.typ.startswith("aws:"):
            outputs.setdefault("arn", f"arn:aws:mock:::{args.name}")
        return f"{args.name}-id", outputs

    def call(self, args: MockCallArgs) -> dict[str, Any]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/ci"}
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com"}
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": "eu-west-1", "region": "eu-west-1"}
        return {}


def render(program: Callable[[], Any], stack: str = "dev") -> list[Declared]:
    """Every resource `program` declares, in declaration order."""
    recorder = Recorder()

    @pulumi.runtime.test
    def run() -> Any:
        return program()

    program_event_loop()
    pulumi.runtime.set_mocks(recorder, project=load_identity().project, stack=stack, preview=False)
    run()
    return [
        Declared(
            typ=r.typ,
            name=r.name,
            inputs=plain(r.inputs),
            secret_keys=frozenset(k for k, v in r.inputs.items() if _has_secret(v)),
        )
        for r in recorder.resources
    ]


def _has_secret(value: Any) -> bool:
    if is_secret(value):
        return True
    if isinstance(value, dict):
        return any(_has_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secret(v) for v in value)
    return False


def by_type(resources: list[Declared], typ: str) -> list[Declared]:
    return [r for r in resources if r.typ == typ]


def stack_plan(stack: str) -> dict[str, Any]:
    """The offline plan of a real stack (`python -m infra.tools.plan`), once per test session."""
    from tests.support.plans import plan_json

    return plan_json(stack)
