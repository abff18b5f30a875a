"""`make up` / `make preview` / `make stack-env`: the Pulumi commands and the deployed model."""

from __future__ import annotations

import hashlib
import importlib.util
import json
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
from ml.release import signature
from ml.release.rollout_record import record_key, write_record
from ml.release.signature import SignerPolicy, signature_key

REGISTRY = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{load_identity().project}-dev"
IMAGE = f"{REGISTRY}/bentos@sha256:" + "c" * 64
BENTO = "breast-cancer-classifier:0123456789abcdef"
REPOSITORY = load_identity().repository
SIGSTORE_DATA = Path(__file__).parents[2] / "data" / "sigstore"
# Whom tests/data/sigstore's bundle names: a workflow of Sigstore's conformance suite, on main.
SIGNER = SignerPolicy(
    "sigstore-conformance/extremely-dangerous-public-oidc-beacon",
    workflow=".github/workflows/extremely-dangerous-oidc-beacon.yml",
)


class Recorder:
    def __init__(self) -> None:
        self.commands: list[list[str]] = []

    def __call__(self, command: Sequence[str], cwd: Path | None = None) -> int:
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


class Pulumi:
    """`capture` of the pulumi and infra commands: the stack's outputs name `bucket`, the URN
    command prints `urn` or fails with a traceback."""

    def __init__(self, bucket: str, urn: str | None = None) -> None:
        self.bucket, self.urn = bucket, urn
        self.commands: list[list[str]] = []

    def __call__(
        self, command: Sequence[str], cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        self.commands.append(list(command))
        if command[:3] == ["pulumi", "stack", "output"]:
            return subprocess.CompletedProcess(command, 0, json.dumps(self.outputs()), "")
        if self.urn is None:
            return subprocess.CompletedProcess(command, 1, "", "Traceback ...\nBoom: no identity\n")
        return subprocess.CompletedProcess(command, 0, f"{self.urn}\n", "")

    def outputs(self) -> dict[str, str]:
        return {"artifactsBucket": self.bucket} if self.bucket else {}


@pytest.fixture
def signed(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """A stack registry holding the signature of an image: a real public-good bundle (see
    tests/ml/release/test_signature.py) under its digest's key, and the policy its signer meets;
    returns (bucket, image)."""
    bucket = f"artifacts-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    digest = hashlib.sha256((SIGSTORE_DATA / "a.txt").read_bytes()).hexdigest()
    body = (SIGSTORE_DATA / "a.txt.sigstore.json").read_bytes()
    boto3.client("s3").put_object(Bucket=bucket, Key=signature_key(digest), Body=body)
    monkeypatch.setattr(signature, "default_policy", lambda: SIGNER)
    return bucket, f"{REGISTRY}/bentos@sha256:{digest}"


def test_a_failing_urn_command_stops_the_rollout_with_its_error(
    signed: tuple[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket, image = signed
    pulumi = Pulumi(bucket)
    monkeypatch.setattr(stack, "capture", pulumi)
    with pytest.raises(ShipError, match=r"infra\.tools\.urn model-serving --stack prod` failed"):
        stack.model_serving_urn("prod")
    assert pulumi.commands[0][1:] == ["-m", "infra.tools.urn", "model-serving", "--stack", "prod"]
    monkeypatch.setattr(stack, "run", Recorder())
    assert stack.main(["up", "--stack", "dev", "--image", image, "--bento", BENTO]) == 2
    assert "Boom: no identity" in capsys.readouterr().err


def test_up_ships_a_signed_image(
    signed: tuple[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket, image = signed
    urn = "urn:pulumi:dev::project::mlops:serving:ModelServing::serving"
    monkeypatch.setattr(stack, "capture", Pulumi(bucket, urn))
    pulumi = Recorder()
    monkeypatch.setattr(stack, "run", pulumi)
    assert stack.main(["up", "--stack", "dev", "--image", image, "--bento", BENTO]) == 0
    assert pulumi.commands == [
        *stack.config_commands("dev", image, BENTO),
        [*stack.up_command("dev"), "--target", urn, "--target-dependents"],
    ]
    assert f"stack: Signature: `{image}` verified, signed by `{SIGNER.identity}`" in (
        capsys.readouterr().out
    )


def _refused_image(case: str, bucket: str, image: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The image `up` is given for one refusal case, its registry and policy set up for it."""
    s3 = boto3.client("s3")
    key = signature_key(image.rpartition(":")[2])
    if case == "missing":
        return IMAGE
    if case == "other-digest":
        # The valid bundle copied to another image's key.
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        s3.put_object(Bucket=bucket, Key=signature_key(IMAGE.rpartition("@")[2]), Body=body)
        return IMAGE
    if case == "other-identity":
        # The signature stands, but this repository's rollout workflow is whom it must name.
        monkeypatch.setattr(signature, "default_policy", lambda: SignerPolicy(REPOSITORY))
        return image
    if case == "corrupted":
        s3.put_object(Bucket=bucket, Key=key, Body=b'{"mediaType": "nope"}')
        return image
    return f"{REGISTRY}/bentos:latest"


@pytest.mark.parametrize(
    ("case", "why"),
    [
        ("missing", "no signature in the registry"),
        ("other-digest", "is for another digest"),
        ("other-identity", "the signature does not verify as https://github.com/"),
        ("corrupted", "no valid Sigstore bundle"),
        ("by-tag", "is no image by digest"),
    ],
)
def test_up_refuses_an_image_without_a_valid_signature_before_pulumi_runs(
    signed: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: str,
    why: str,
) -> None:
    bucket, image = signed
    image = _refused_image(case, bucket, image, monkeypatch)
    outputs, pulumi = Pulumi(bucket, "urn:pulumi:dev::p::t::n"), Recorder()
    monkeypatch.setattr(stack, "capture", outputs)
    monkeypatch.setattr(stack, "run", pulumi)
    assert stack.main(["up", "--stack", "dev", "--image", image, "--bento", BENTO]) == 2
    err = capsys.readouterr().err
    assert err.startswith((f"stack: {image}: ", f"stack: {image!r} is no image"))
    assert why in err
    # Only the stack's outputs were read: no `pulumi config set`, no `pulumi up`, no URN.
    assert pulumi.commands == []
    assert outputs.commands == [["pulumi", "stack", "output", "--json", "--stack", "dev"]]


def test_allow_unsigned_ships_with_its_reason_in_the_summary(
    signed: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bucket, _ = signed
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setattr(stack, "capture", Pulumi(bucket, "urn:pulumi:dev::p::t::n"))
    pulumi = Recorder()
    monkeypatch.setattr(stack, "run", pulumi)
    up = ["up", "--stack", "dev", "--image", IMAGE, "--bento", BENTO]
    assert stack.main([*up, "--allow-unsigned", "image from before signing"]) == 0
    assert pulumi.commands[0] == stack.config_commands("dev", IMAGE, BENTO)[0]
    assert "**Unsigned image shipped** (image from before signing)" in summary.read_text()
    assert "shipped anyway: image from before signing" in capsys.readouterr().err
    # A reason is required, and the flag ships an image: nothing else.
    with pytest.raises(SystemExit):
        stack.main([*up, "--allow-unsigned", " "])
    assert stack.main(["up", "--stack", "dev", "--allow-unsigned", "why"]) == 2
    assert "--allow-unsigned goes with `up --image`" in capsys.readouterr().err


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
