"""Declare one component in-process under the shared mocks and hand back what it registered."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import pulumi
import pulumi_aws as aws
import yaml
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra.components.cluster import Cluster, ClusterArgs
from infra.helpers.providers import AwsAccount
from infra.helpers.tags import cost_labels, cost_tags
from infra.settings import StackSettings, validate_settings
from infra.tools.mocks import (
    ACCOUNT_ID,
    RecordingMonitor,
    Registration,
    StackMocks,
    program_event_loop,
)
from ml.core.identity import load_identity
from ml.core.paths import REPO_ROOT

PROJECT = load_identity().project
REGION = "us-east-1"
# The stack key, as components that encrypt with it receive it.
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/stack"


@cache
def stack_settings(stack: str) -> StackSettings:
    text = (REPO_ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")
    return validate_settings(yaml.safe_load(text)["config"], project=PROJECT)


@dataclass
class Declared:
    """What a component registered, and the values of the Outputs the test asked for."""

    registrations: list[Registration]
    values: dict[str, Any]

    def of_type(self, token: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == token]

    def one(self, token: str, name: str | None = None) -> Registration:
        found = [r for r in self.of_type(token) if name is None or r.name == name]
        assert len(found) == 1, f"{len(found)} {token} named {name!r}"
        return found[0]


def declare(
    build: Callable[[aws.Provider, AwsAccount], dict[str, Any] | None],
    settings: StackSettings | None = None,
) -> Declared:
    """Run `build(provider, account)` as a tiny program; it may return Outputs to resolve."""
    settings = settings or stack_settings("dev")
    mocks = StackMocks(REGION, ("aws", "kubernetes"))
    monitor = RecordingMonitor(mocks)
    values: dict[str, Any] = {}

    async def program() -> None:
        provider = aws.Provider("aws", region=REGION, default_tags={"tags": cost_tags(settings)})
        account = AwsAccount.lookup(provider, REGION)
        wanted = build(provider, account) or {}
        for key, value in wanted.items():
            values[key] = await pulumi.Output.from_input(value).future()

    program_event_loop()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="unit", preview=False, monitor=monitor)
    _sync_await(run_pulumi_func(program))
    return Declared(list(monitor.registrations), values)


def on(provider: aws.Provider) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(providers=[provider])


def stack_cluster(settings: StackSettings, provider: aws.Provider, account: AwsAccount) -> Cluster:
    """The stack's cluster on two private subnets, its secrets encrypted with KEY."""
    subnets = ["subnet-private-a", "subnet-private-b"]
    return Cluster(
        "cluster",
        ClusterArgs(
            settings=settings.cluster,
            naming=settings.naming,
            account=account,
            key_arn=KEY,
            control_plane_subnet_ids=subnets,
            node_subnet_ids=subnets,
            cost_tags=cost_tags(settings),
            cost_labels=cost_labels(settings),
        ),
        opts=on(provider),
    )


def policy(document: str) -> dict[str, Any]:
    return json.loads(document)


def statements(document: str) -> Iterator[dict[str, Any]]:
    yield from policy(document)["Statement"]
