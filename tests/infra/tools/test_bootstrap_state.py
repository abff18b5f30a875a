"""`make bootstrap-state` against moto's S3/KMS/STS server: complete, and idempotent."""

from __future__ import annotations

import json
import re

import boto3
import pytest
import yaml

from infra.settings import state_bucket_name, state_key_alias
from infra.tools import bootstrap_state
from ml.core.identity import load_identity
from ml.core.paths import REPO_ROOT
from tests.support.make import run_make


def stack_region(stack: str) -> str:
    config = yaml.safe_load((REPO_ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    return config["config"]["aws:region"]


REGION = stack_region("dev")
# Any other region: where a second run must refuse to create a second backend.
OTHER_REGION = "ap-southeast-2" if REGION != "ap-southeast-2" else "eu-central-1"


@pytest.fixture
def clients(aws_env: str) -> dict:
    return {name: boto3.client(name, region_name=REGION) for name in ("s3", "kms", "sts")}


def test_bootstrap_twice_builds_one_locked_down_backend(
    clients: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bootstrap_state.main(["--stack", "dev"]) == 0
    first = capsys.readouterr().out
    assert bootstrap_state.main(["--stack", "dev"]) == 0
    second = capsys.readouterr().out
    assert first == second  # same bucket, same key: nothing new the second time

    project = load_identity().project
    account = clients["sts"].get_caller_identity()["Account"]
    bucket = state_bucket_name(project, account)
    alias = state_key_alias(project)
    s3, kms = clients["s3"], clients["kms"]

    key = kms.describe_key(KeyId=alias)["KeyMetadata"]
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True
    assert [a["AliasName"] for a in kms.list_aliases()["Aliases"]].count(alias) == 1

    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": key["Arn"],
    }
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    (deny,) = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    ownership = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]
    assert ownership["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags["project"] == project and tags["cost-center"] == load_identity().cost_center

    assert f"pulumi login 's3://{bucket}?region={REGION}&awssdk=v2'" in first
    assert f"--secrets-provider 'awskms://{alias}?region={REGION}'" in first


def test_backend_stays_in_its_first_region(
    clients: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bootstrap_state.main(["--region", REGION]) == 0
    capsys.readouterr()
    assert bootstrap_state.main(["--region", OTHER_REGION]) == 2
    assert f"already lives in {REGION}; run with --region {REGION}" in capsys.readouterr().err


def test_region_comes_from_flag_then_stack_then_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    assert bootstrap_state.resolve_region("dev", "eu-central-1") == "eu-central-1"
    assert bootstrap_state.resolve_region("prod", None) == stack_region("prod")
    assert bootstrap_state.resolve_region(None, None) == "ap-south-1"
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(bootstrap_state.BootstrapError, match="no region"):
        bootstrap_state.resolve_region(None, None)


def test_make_bootstrap_state_talks_to_the_aws_endpoint_url_it_is_given(clients: dict) -> None:
    # The README's way of trying it on an S3-compatible server: AWS_ENDPOINT_URL (here moto's;
    # were it ignored, the run would go to AWS itself, out of this machine's reach).
    result = run_make("bootstrap-state", "STACK=dev")
    assert result.returncode == 0, result.stderr
    account = clients["sts"].get_caller_identity()["Account"]
    bucket = state_bucket_name(load_identity().project, account)
    assert f"s3://{bucket}" in result.stdout
    assert clients["s3"].head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_the_readme_says_how_to_try_it_on_an_s3_compatible_server() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("`make bootstrap-state STACK=dev` creates")
    bullet = readme[start : readme.index("\n- ", start)]
    (command,) = re.findall(r"`(AWS_ENDPOINT_URL=[^`]*)`", bullet)
    assert command.endswith("make bootstrap-state STACK=dev")
    # moto (or any S3-compatible server) wants some credentials, any will do.
    assert "AWS_ACCESS_KEY_ID=" in command and "AWS_SECRET_ACCESS_KEY=" in command
