"""Create the self-managed Pulumi backend: an S3 bucket for state and a KMS key for secrets.

    python -m infra.tools.bootstrap_state --stack dev      # region: Pulumi.dev.yaml's aws:region
    python -m infra.tools.bootstrap_state --region eu-west-1

Safe to run again: whatever exists is kept and its settings are re-applied (versioning,
SSE-KMS, public access block, TLS-only policy, lifecycle, tags). One bucket and one key serve
every stack of the project; the names derive from the project and the AWS account
(infra/settings/naming.py), so the stack's CI roles find them without extra settings.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from infra.helpers.iam import deny_without_tls
from infra.settings import state_bucket_name, state_key_alias
from ml.core.cli import emit
from ml.core.identity import MANAGED_BY_KEY, IdentityError, load_identity
from ml.core.paths import REPO_ROOT
from ml.core.yaml_file import ConfigFileError, load_mapping, mapping_at

# The backend serves every stack, so its cost tags book it to no single environment.
STATE_ENVIRONMENT = "shared"
MANAGED_BY = "make-bootstrap-state"
NONCURRENT_STATE_DAYS = 90
ABORT_MULTIPART_DAYS = 7


class BootstrapError(RuntimeError):
    """The backend can't be set up; the message says what to do."""


@dataclass(frozen=True)
class Backend:
    account_id: str
    region: str
    bucket: str
    key_alias: str
    key_arn: str

    @property
    def login_url(self) -> str:
        return f"s3://{self.bucket}?region={self.region}&awssdk=v2"

    @property
    def secrets_provider(self) -> str:
        return f"awskms://{self.key_alias}?region={self.region}"

    def instructions(self) -> str:
        return "\n".join(
            [
                f"Pulumi state backend ready (account {self.account_id}, {self.region}):",
                f"  state bucket  s3://{self.bucket}",
                f"  secrets key   {self.key_alias} ({self.key_arn})",
                "",
                "Log in, then create each stack with the KMS secrets provider:",
                f"  pulumi login '{self.login_url}'",
                f"  pulumi stack init <stack> --secrets-provider '{self.secrets_provider}'",
                "An existing stack switches with:",
                f"  pulumi stack change-secrets-provider '{self.secrets_provider}'",
            ]
        )


def resolve_region(stack: str | None, region: str | None, root: Path = REPO_ROOT) -> str:
    """--region, else the stack file's aws:region, else AWS_REGION / AWS_DEFAULT_REGION."""
    if region:
        return region
    if stack:
        path = root / f"Pulumi.{stack}.yaml"
        if not path.is_file():
            raise BootstrapError(f"no stack file {path.name}")
        config = mapping_at(path, load_mapping(path), "config")
        if config.get("aws:region"):
            return str(config["aws:region"])
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if os.environ.get(variable):
            return os.environ[variable]
    raise BootstrapError("no region: pass --region, --stack <name>, or set AWS_REGION")


def _aws_tags(tags: dict[str, str], key: str = "Key", value: str = "Value") -> list[dict]:
    return [{key: k, value: v} for k, v in tags.items()]


def ensure_key(kms: Any, alias: str, tags: dict[str, str]) -> str:
    """The alias's key (created with rotation on first run); returns its ARN."""
    try:
        metadata = kms.describe_key(KeyId=alias)["KeyMetadata"]
    except kms.exceptions.NotFoundException:
        metadata = kms.create_key(
            Description="Encrypts Pulumi state and stack secrets",
            KeyUsage="ENCRYPT_DECRYPT",
            KeySpec="SYMMETRIC_DEFAULT",
            Tags=_aws_tags(tags, "TagKey", "TagValue"),
        )["KeyMetadata"]
        kms.create_alias(AliasName=alias, TargetKeyId=metadata["KeyId"])
    if metadata.get("KeyState") == "PendingDeletion":
        raise BootstrapError(
            f"{alias} points to a key pending deletion: `aws kms cancel-key-deletion "
            f"--key-id {metadata['KeyId']}` then `aws kms enable-key --key-id ...`, and rerun"
        )
    kms.enable_key_rotation(KeyId=metadata["KeyId"])
    return str(metadata["Arn"])


def tls_only_policy(bucket: str, partition: str) -> str:
    arn = f"arn:{partition}:s3:::{bucket}"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [deny_without_tls("DenyInsecureTransport", "s3:*", [arn, f"{arn}/*"])],
        }
    )


def _create_bucket(s3: Any, bucket: str) -> None:
    """Create the bucket in the client's region unless it exists there already."""
    region = s3.meta.region_name
    try:
        s3.head_bucket(Bucket=bucket)
        # One backend serves every stack: its key must sit in the bucket's region.
        where = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
        if where != region:
            raise BootstrapError(
                f"state bucket {bucket} already lives in {where}; run with --region {where}"
            )
    except ClientError as error:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 403:
            raise BootstrapError(
                f"bucket {bucket} exists but this account can't reach it"
            ) from None
        if status != 404:
            raise
        location = {} if region == "us-east-1" else {"LocationConstraint": region}
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(
                Bucket=bucket,
                **({"CreateBucketConfiguration": location} if location else {}),
            )


def ensure_bucket(s3: Any, bucket: str, key_arn: str, tags: dict[str, str]) -> None:
    """Create the state bucket if missing, then (re)apply every guard rail."""
    _create_bucket(s3, bucket)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    # Versioning keeps every earlier state file: a bad update can be rolled back by hand.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": key_arn,
                    },
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    partition = key_arn.split(":")[1]
    s3.put_bucket_policy(Bucket=bucket, Policy=tls_only_policy(bucket, partition))
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "expire-old-state-versions",
                    "Status": "Enabled",
                    "Filter": {},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_STATE_DAYS},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_MULTIPART_DAYS},
                }
            ]
        },
    )
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": _aws_tags(tags)})


def bootstrap(region: str, session: boto3.Session | None = None) -> Backend:
    """Make sure the project's state bucket and secrets key exist in `region`."""
    session = session or boto3.Session(region_name=region)
    identity = load_identity()
    tags = {**identity.cost_tags(STATE_ENVIRONMENT), MANAGED_BY_KEY: MANAGED_BY}
    account_id = str(session.client("sts", region_name=region).get_caller_identity()["Account"])
    alias = state_key_alias(identity.project)
    key_arn = ensure_key(session.client("kms", region_name=region), alias, tags)
    bucket = state_bucket_name(identity.project, account_id)
    ensure_bucket(session.client("s3", region_name=region), bucket, key_arn, tags)
    return Backend(account_id, region, bucket, alias, key_arn)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--stack", help="read the region from Pulumi.<stack>.yaml")
    parser.add_argument("--region", help="AWS region (overrides the stack file)")
    args = parser.parse_args(argv)
    try:
        backend = bootstrap(resolve_region(args.stack, args.region))
    except (BootstrapError, ConfigFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except IdentityError as error:
        print(f"error: params.yaml {error}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as error:
        print(f"error: AWS refused the bootstrap: {error}", file=sys.stderr)
        return 1
    emit(backend.instructions())
    return 0


if __name__ == "__main__":
    sys.exit(main())
