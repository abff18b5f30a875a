"""The stack's S3 buckets: DVC remote, artifacts (bentos, rollout records, reports), access logs.

Every bucket is versioned, encrypted, closed to the public, owner-enforced, TLS-only and
lifecycle-managed; the data buckets log every access to the access-log bucket.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.helpers.iam import Statement, deny_without_tls, document
from infra.helpers.options import renamed
from infra.helpers.providers import AwsAccount
from infra.settings import (
    ACCESS_LOGS_BUCKET,
    ARTIFACTS_BUCKET,
    DVC_BUCKET,
    Naming,
    StorageSettings,
)

ABORT_MULTIPART_AFTER_DAYS = 7


@dataclass(frozen=True)
class LogTarget:
    """Where a bucket's server access logs go; `ready` is the target's policy admitting them."""

    bucket: pulumi.Input[str]
    prefix: str
    ready: pulumi.Resource


@dataclass(frozen=True)
class BucketArgs:
    """One bucket's name, ARN, lifecycle, encryption, log target and extra policy statements."""

    bucket: pulumi.Input[str]
    arn: pulumi.Input[str]
    force_destroy: bool
    rules: Sequence[aws.s3.BucketLifecycleConfigurationRuleArgs]
    # None: SSE-S3, which S3 server access logging requires of its target bucket.
    kms_key_arn: pulumi.Input[str] | None = None
    log_to: LogTarget | None = None
    extra_statements: Sequence[Statement] = field(default_factory=tuple)


def _encryption(
    kms_key_arn: pulumi.Input[str] | None,
) -> aws.s3.BucketServerSideEncryptionConfigurationRuleArgs:
    """SSE-KMS with the stack's key and one data key per bucket, or SSE-S3 without a key."""
    by_default = (
        aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs
    )
    if kms_key_arn is None:
        default = by_default(sse_algorithm="AES256")
    else:
        default = by_default(sse_algorithm="aws:kms", kms_master_key_id=kms_key_arn)
    return aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
        apply_server_side_encryption_by_default=default,
        # One data key per bucket instead of one KMS call per object.
        bucket_key_enabled=kms_key_arn is not None,
    )


class SecureBucket(pulumi.ComponentResource):
    """One S3 bucket with every guard rail declared next to it."""

    def __init__(
        self, name: str, args: BucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        # Stacks created before the tokens followed the module names keep their buckets.
        super().__init__(
            "mlops:storage:SecureBucket", name, None, renamed(opts, "mlops:infra:SecureBucket")
        )
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            name, bucket=args.bucket, force_destroy=args.force_destroy, opts=child
        )
        self.name: pulumi.Output[str] = self.bucket.bucket
        self.arn: pulumi.Output[str] = self.bucket.arn
        ownership = aws.s3.BucketOwnershipControls(
            name,
            bucket=self.bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        public_block = aws.s3.BucketPublicAccessBlock(
            name,
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ownership]),
        )
        # S3 rejects concurrent configuration calls on one bucket, hence the depends_on chain.
        self.policy = aws.s3.BucketPolicy(
            name,
            bucket=self.bucket.id,
            policy=document(
                deny_without_tls(
                    "DenyInsecureTransport",
                    "s3:*",
                    [args.arn, pulumi.Output.concat(args.arn, "/*")],
                ),
                *args.extra_statements,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_block]),
        )
        self._versioned_and_encrypted(name, args)
        if args.log_to is not None:
            aws.s3.BucketLogging(
                name,
                bucket=self.bucket.id,
                target_bucket=args.log_to.bucket,
                target_prefix=args.log_to.prefix,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[args.log_to.ready]),
            )
        self.register_outputs({"name": self.name, "arn": self.arn})

    def _versioned_and_encrypted(self, name: str, args: BucketArgs) -> None:
        """Versioning, default encryption, and the lifecycle rules (once versioning is on)."""
        child = pulumi.ResourceOptions(parent=self)
        versioning = aws.s3.BucketVersioning(
            name,
            bucket=self.bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                status="Enabled"
            ),
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            name, bucket=self.bucket.id, rules=[_encryption(args.kms_key_arn)], opts=child
        )
        aws.s3.BucketLifecycleConfiguration(
            name,
            bucket=self.bucket.id,
            rules=list(args.rules),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )


@dataclass(frozen=True)
class StorageArgs:
    """The stack's storage settings, names, account, and the key the data buckets use."""

    settings: StorageSettings
    naming: Naming
    account: AwsAccount
    key_arn: pulumi.Input[str]


def data_rules(settings: StorageSettings) -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
    """Data moves to Intelligent-Tiering; old versions and stale uploads expire."""
    return [
        aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="tier-and-expire-old-versions",
            status="Enabled",
            filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(),
            transitions=[
                aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                    days=settings.intelligent_tiering_after_days,
                    storage_class="INTELLIGENT_TIERING",
                )
            ],
            noncurrent_version_expiration=_noncurrent(settings),
            abort_incomplete_multipart_upload=_multipart(),
        )
    ]


def log_rules(settings: StorageSettings) -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
    """Access logs expire; so do their old versions and stale uploads."""
    return [
        aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="expire-access-logs",
            status="Enabled",
            filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(),
            expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                days=settings.access_log_expiry_days
            ),
            noncurrent_version_expiration=_noncurrent(settings),
            abort_incomplete_multipart_upload=_multipart(),
        )
    ]


def _noncurrent(
    settings: StorageSettings,
) -> aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs:
    return aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
        noncurrent_days=settings.noncurrent_version_expiry_days
    )


def _multipart() -> aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs:
    return aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
        days_after_initiation=ABORT_MULTIPART_AFTER_DAYS
    )


def access_log_statement(
    log_bucket_arn: pulumi.Input[str],
    sources: Sequence[pulumi.Input[str]],
    account_id: pulumi.Input[str],
) -> Statement:
    """S3's log delivery may write into the log bucket, for this stack's buckets only."""
    return {
        # Bucket-owner-enforced buckets take server access logs through the
        # policy (not ACLs): only from this stack's buckets, in this account.
        "Sid": "S3ServerAccessLogsFromStackBuckets",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": pulumi.Output.concat(log_bucket_arn, "/*"),
        "Condition": {
            "ArnLike": {"aws:SourceArn": list(sources)},
            "StringEquals": {"aws:SourceAccount": account_id},
        },
    }


class Storage(pulumi.ComponentResource):
    """The DVC remote, the artifact store and the bucket their access logs go to."""

    def __init__(
        self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        # Stacks created before the tokens followed the module names keep their buckets.
        super().__init__("mlops:storage:Storage", name, None, renamed(opts, "mlops:infra:Storage"))
        settings, account = args.settings, args.account
        names = {
            purpose: account.account_id.apply(lambda a, p=purpose: args.naming.bucket(p, a))
            for purpose in (DVC_BUCKET, ARTIFACTS_BUCKET, ACCESS_LOGS_BUCKET)
        }
        arns = {
            p: pulumi.Output.concat("arn:", account.partition, ":s3:::", n)
            for p, n in names.items()
        }
        child = pulumi.ResourceOptions(parent=self)
        sources = [arns[DVC_BUCKET], arns[ARTIFACTS_BUCKET]]
        self.access_logs = SecureBucket(
            ACCESS_LOGS_BUCKET,
            BucketArgs(
                bucket=names[ACCESS_LOGS_BUCKET],
                arn=arns[ACCESS_LOGS_BUCKET],
                force_destroy=settings.force_destroy,
                rules=log_rules(settings),
                extra_statements=[
                    access_log_statement(arns[ACCESS_LOGS_BUCKET], sources, account.account_id)
                ],
            ),
            opts=child,
        )
        data_buckets = {}
        for purpose in (DVC_BUCKET, ARTIFACTS_BUCKET):
            data_buckets[purpose] = SecureBucket(
                purpose,
                BucketArgs(
                    bucket=names[purpose],
                    arn=arns[purpose],
                    force_destroy=settings.force_destroy,
                    rules=data_rules(settings),
                    kms_key_arn=args.key_arn,
                    log_to=LogTarget(self.access_logs.name, f"{purpose}/", self.access_logs.policy),
                ),
                opts=child,
            )
        self.dvc = data_buckets[DVC_BUCKET]
        self.artifacts = data_buckets[ARTIFACTS_BUCKET]
        self.dvc_remote_url: pulumi.Output[str] = pulumi.Output.concat(
            "s3://", self.dvc.name, "/dvc"
        )
        self.register_outputs(
            {
                "dvcBucket": self.dvc.name,
                "artifactsBucket": self.artifacts.name,
                "accessLogsBucket": self.access_logs.name,
            }
        )
