"""`make up` / `make preview` / `make stack-env`: the Pulumi commands and the deployed model."""

from __future__ import annotations

import importlib.util
import subprocess
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
import yaml

from infra.settings import ServingSettings
from ml.ci import stack
from ml.core.artifacts import DRIFT_MODULE, ShipError
from ml.core.identity import load_identity
from ml.release.rollout_record import record_key, write_record

REGISTRY = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{load_identity().project}-dev"
IMAGE = f"{REGISTRY}/bentos@sha256:" + "c" * 64
BENTO = "breast-cancer-classifier:0123456789abcdef"


class Recorder:
    def __init__(self) -> None:
        self.commands: list[list[str]] = []

    def __call__(self, command: Sequence[str]) -> int:
        self.commands.append(list(command))
        return 0


def test_shipping_sets_the_serving_section() -> None:
    commands = stack.config_commands("prod", IMAGE, BENTO)
    assert commands == [
        ["pulumi", "config", "set", "--stack", "prod", "--path", "serving.image", IMAGE],
        [
            "pulumi",
            "config",
            "set",
            "--stack",
            "prod",
            "--path",
            "serving.modelVersion",
            "0123456789abcdef",
        ],
        ["pulumi", "config", "set", "--stack", "prod", "--path", "serving.bentoTag", BENTO],
        # The image was built from this checkout: its drift module is this layout's.
        [
            "pulumi",
            "config",
            "set",
            "--stack",
            "prod",
            "--path",
            "serving.driftModule",
            DRIFT_MODULE,
        ],
    ]
    assert importlib.util.find_spec(DRIFT_MODULE) is not None


def test_the_keys_set_are_the_serving_settings_fields() -> None:
    # What CI sets must validate as the stack file's serving section.
    from ml.core.identity import load_identity
    from ml.core.paths import REPO_ROOT

    config = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text(encoding="utf-8"))
    committed = config["config"][f"{load_identity().project}:serving"]
    section = {
        command[-2].removeprefix("serving."): command[-1]
        for command in stack.config_commands("dev", IMAGE, BENTO)
    }
    settings = ServingSettings.model_validate({**committed, **section})
    assert (settings.image, settings.model_version, settings.bento_tag) == (
        IMAGE,
        "0123456789abcdef",
        BENTO,
    )


def test_up_and_preview_commands_do_not_prompt() -> None:
    assert stack.up_command("dev") == [
        "pulumi",
        "up",
        "--stack",
        "dev",
        "--yes",
        "--diff",
        "--non-interactive",
    ]
    assert "--non-interactive" in stack.preview_command("dev")


def test_shipping_a_model_updates_the_model_service_alone() -> None:
    from infra.components.serving import model_serving_urn

    urn = model_serving_urn(load_identity().project, "prod")
    assert stack.model_up_command("prod") == [
        *stack.up_command("prod"),
        "--target",
        urn,
        "--target-dependents",
    ]


def test_a_failing_urn_command_stops_the_rollout_with_its_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[list[str]] = []

    def failing(
        command: Sequence[str], cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        seen.append(list(command))
        return subprocess.CompletedProcess(command, 1, "", "Traceback ...\nBoom: no identity\n")

    monkeypatch.setattr(stack, "capture", failing)
    with pytest.raises(ShipError, match=r"infra\.tools\.urn model-serving --stack prod` failed"):
        stack.model_serving_urn("prod")
    assert seen[0][1:] == ["-m", "infra.tools.urn", "model-serving", "--stack", "prod"]
    monkeypatch.setattr(stack, "run", Recorder())
    assert stack.main(["up", "--stack", "dev", "--image", IMAGE, "--bento", BENTO]) == 2
    assert "Boom: no identity" in capsys.readouterr().err


def test_stack_outputs_become_the_shipping_variables() -> None:
    outputs = {"artifactsBucket": "b", "ecrRepositoryUrl": "r", "kubeconfig": "secret"}
    assert stack.env_lines(outputs) == ["ARTIFACTS_BUCKET=b", "ECR_REPOSITORY_URL=r"]
    with pytest.raises(ShipError, match="no ecrRepositoryUrl output"):
        stack.env_lines({"artifactsBucket": "b"})


def test_the_output_names_are_the_stack_program_exports() -> None:
    from ml.core.paths import REPO_ROOT

    program = (REPO_ROOT / "infra" / "__main__.py").read_text(encoding="utf-8")
    for name in stack.OUTPUT_ENV:
        assert f'pulumi.export("{name}"' in program


def test_without_a_new_image_the_deployed_model_stays(aws_env: str) -> None:
    bucket = f"artifacts-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    outputs = {"artifactsBucket": bucket}

    nothing = Recorder()
    assert stack.set_deployed_config("dev", outputs, runner=nothing) is False
    assert nothing.commands == []

    # A record from before the packages names no drift module: that image has the flat layout.
    record = {"image": IMAGE, "bento_tag": BENTO, "model_version": "0123456789abcdef"}
    write_record(record, bucket, record_key("dev", datetime.now(UTC), "0123456789abcdef"))
    kept = Recorder()
    assert stack.set_deployed_config("dev", outputs, runner=kept) is True
    assert kept.commands == stack.config_commands("dev", IMAGE, BENTO, "ml.drift")

    newer = {**record, "drift_module": DRIFT_MODULE}
    write_record(newer, bucket, record_key("dev", datetime.now(UTC), "0123456789abcdef"))
    kept = Recorder()
    assert stack.set_deployed_config("dev", outputs, runner=kept) is True
    assert kept.commands == stack.config_commands("dev", IMAGE, BENTO, DRIFT_MODULE)


def test_a_failing_config_command_stops_the_rollout(aws_env: str) -> None:
    bucket = f"artifacts-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    write_record(
        {"image": IMAGE, "bento_tag": BENTO}, bucket, record_key("dev", datetime.now(UTC), "v")
    )
    with pytest.raises(ShipError, match="failed"):
        stack.set_deployed_config("dev", {"artifactsBucket": bucket}, runner=lambda _: 1)


def test_preview_without_credentials_skips_with_a_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert stack.main(["preview", "--stack", "dev"]) == 0
    assert "no AWS credentials, skipping pulumi preview of dev" in capsys.readouterr().out


def test_an_image_needs_its_bento(capsys: pytest.CaptureFixture[str]) -> None:
    assert stack.main(["up", "--stack", "dev", "--image", IMAGE]) == 2
    assert "--image and --bento go together" in capsys.readouterr().err
