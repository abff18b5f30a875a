"""`make plan` and the stack file's secrets (`{secure: <ciphertext>}`): the program gets a
stand-in it can read, as a secret, exactly as the CLI flags a secret it decrypted."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pulumi
import pytest
import yaml

from infra.tools import plan

PROGRAM = """\
import pulumi
from pulumi.runtime import is_config_secret

config = pulumi.Config()
pulumi.export("keyIsSecret", is_config_secret("demo:appKey"))
pulumi.export("idIsSecret", is_config_secret("demo:appId"))
pulumi.export("key", config.require_secret("appKey"))
pulumi.export("keySeen", config.require("appKey"))
pulumi.export("id", config.require("appId"))
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project whose stack file holds one secret, and a program that reports what it sees."""
    (tmp_path / "Pulumi.yaml").write_text("name: demo\nruntime: python\n")
    config = {
        "aws:region": "us-east-1",
        "demo:appId": "123456",
        "demo:appKey": {"secure": "v1:AAAABBBBCCCC"},
    }
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": config}))
    program = tmp_path / "program"
    program.mkdir()
    (program / "__main__.py").write_text(PROGRAM)
    monkeypatch.setattr(plan, "PROGRAM", program)
    # `run` hands the program its config through the environment, as the CLI does.
    monkeypatch.setenv("PULUMI_CONFIG", "{}")
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", "[]")
    yield tmp_path
    pulumi.runtime.set_all_config({}, [])


def test_secure_values_become_hidden_stand_ins_listed_as_secrets() -> None:
    config = {
        "aws:region": "us-east-1",
        "p:zeta": {"secure": "v1:x"},
        "p:alpha": {"secure": "v1:y"},
        "p:network": {"azCount": 2},
        "p:notSecret": {"secure": "v1:z", "other": 1},
    }
    readable, secrets = plan.readable_config(config)
    assert secrets == ["p:alpha", "p:zeta"]
    assert readable == {
        **config,
        "p:zeta": plan.HIDDEN,
        "p:alpha": plan.HIDDEN,
    }
    assert plan.readable_config({"p:flag": True}) == ({"p:flag": True}, [])


def test_the_program_reads_a_stand_in_and_knows_it_is_a_secret(project: Path) -> None:
    result = plan.run("dev", project, with_model=False)
    assert result.outputs == {
        "id": "123456",
        "idIsSecret": False,
        "key": plan.HIDDEN,
        "keyIsSecret": True,
        "keySeen": plan.HIDDEN,
    }
    assert json.loads(os.environ["PULUMI_CONFIG_SECRET_KEYS"]) == ["demo:appKey"]
    assert json.loads(os.environ["PULUMI_CONFIG"])["demo:appKey"] == plan.HIDDEN


def test_the_plan_runs_after_asyncio_run_left_no_current_loop(project: Path) -> None:
    async def nothing() -> None:
        return None

    asyncio.run(nothing())
    assert plan.run("dev", project, with_model=False).outputs["id"] == "123456"
