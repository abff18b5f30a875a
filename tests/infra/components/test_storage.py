"""The buckets: versioned, encrypted, private, TLS-only, lifecycle-managed, access-logged."""

from __future__ import annotations

import pytest

from infra.components.key import StackKey, StackKeyArgs
from infra.components.storage import Storage, StorageArgs
from infra.settings import ACCESS_LOGS_BUCKET, ARTIFACTS_BUCKET, DVC_BUCKET
from infra.tools.mocks import ACCOUNT_ID
from tests.support.pulumi_unit import Declared, declare, on, policy, stack_settings

BUCKETS = (DVC_BUCKET, ARTIFACTS_BUCKET, ACCESS_LOGS_BUCKET)


@pytest.fixture(scope="module")
def storage() -> Declared:
    settings = stack_settings("dev")

    def program(provider, account):
        key = StackKey("stack", StackKeyArgs(settings.naming, account), opts=on(provider))
        store = Storage(
            "storage",
            StorageArgs(settings.storage, settings.naming, account, key.arn),
            opts=on(provider),
        )
        return {"key": key.arn, "remote": store.dvc_remote_url, "dvc": store.dvc.name}

    return declare(program, settings)


def config(storage: Declared, kind: str, bucket: str) -> dict:
    return storage.one(f"aws:s3/{kind}", bucket).inputs


def test_bucket_names_derive_from_identity_and_account(storage: Declared) -> None:
    naming = stack_settings("dev").naming
    for purpose in BUCKETS:
        name = config(storage, "bucket:Bucket", purpose)["bucket"]
        assert name == f"{naming.prefix}-{purpose}-{ACCOUNT_ID}" and len(name) <= 63
    assert storage.values["remote"] == f"s3://{storage.values['dvc']}/dvc"


@pytest.mark.parametrize("bucket", BUCKETS)
def test_every_bucket_is_versioned_private_and_owner_enforced(
    storage: Declared, bucket: str
) -> None:
    versioning = config(storage, "bucketVersioning:BucketVersioning", bucket)
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    block = config(storage, "bucketPublicAccessBlock:BucketPublicAccessBlock", bucket)
    for flag in (
        "blockPublicAcls",
        "blockPublicPolicy",
        "ignorePublicAcls",
        "restrictPublicBuckets",
    ):
        assert block[flag] is True
    ownership = config(storage, "bucketOwnershipControls:BucketOwnershipControls", bucket)
    assert ownership["rule"]["objectOwnership"] == "BucketOwnerEnforced"
    assert config(storage, "bucket:Bucket", bucket)["forceDestroy"] is True  # dev setting


@pytest.mark.parametrize("bucket", BUCKETS)
def test_every_bucket_refuses_plain_http(storage: Declared, bucket: str) -> None:
    document = policy(config(storage, "bucketPolicy:BucketPolicy", bucket)["policy"])
    deny = next(s for s in document["Statement"] if s["Effect"] == "Deny")
    arn = f"arn:aws:s3:::{config(storage, 'bucket:Bucket', bucket)['bucket']}"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Action"] == "s3:*" and deny["Resource"] == [arn, f"{arn}/*"]


@pytest.mark.parametrize("bucket", [DVC_BUCKET, ARTIFACTS_BUCKET])
def test_data_buckets_use_the_stack_key_and_log_access(storage: Declared, bucket: str) -> None:
    rule = config(
        storage,
        "bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        bucket,
    )["rules"][0]
    default = rule["applyServerSideEncryptionByDefault"]
    assert default == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": storage.values["key"]}
    assert rule["bucketKeyEnabled"] is True
    logging = config(storage, "bucketLogging:BucketLogging", bucket)
    logs = config(storage, "bucket:Bucket", ACCESS_LOGS_BUCKET)["bucket"]
    assert logging["targetBucket"] == logs and logging["targetPrefix"] == f"{bucket}/"


def test_data_lifecycle_tiers_and_expires_old_versions(storage: Declared) -> None:
    settings = stack_settings("dev").storage
    (rule,) = config(
        storage, "bucketLifecycleConfiguration:BucketLifecycleConfiguration", DVC_BUCKET
    )["rules"]
    assert rule["status"] == "Enabled" and rule["filter"] == {}
    assert rule["transitions"] == [
        {"days": settings.intelligent_tiering_after_days, "storageClass": "INTELLIGENT_TIERING"}
    ]
    assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == (
        settings.noncurrent_version_expiry_days
    )
    assert rule["abortIncompleteMultipartUpload"]["daysAfterInitiation"] == 7


def test_access_log_bucket_takes_logs_from_stack_buckets_only(storage: Declared) -> None:
    # S3 server access logging only delivers to SSE-S3 buckets.
    rule = config(
        storage,
        "bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        ACCESS_LOGS_BUCKET,
    )["rules"][0]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    assert storage.of_type("aws:s3/bucketLogging:BucketLogging") != []
    assert not [
        r
        for r in storage.of_type("aws:s3/bucketLogging:BucketLogging")
        if r.name == ACCESS_LOGS_BUCKET
    ]
    document = policy(config(storage, "bucketPolicy:BucketPolicy", ACCESS_LOGS_BUCKET)["policy"])
    allow = next(s for s in document["Statement"] if s["Effect"] == "Allow")
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert allow["Action"] == "s3:PutObject"
    sources = {
        f"arn:aws:s3:::{config(storage, 'bucket:Bucket', b)['bucket']}"
        for b in (DVC_BUCKET, ARTIFACTS_BUCKET)
    }
    assert set(allow["Condition"]["ArnLike"]["aws:SourceArn"]) == sources
    assert allow["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT_ID
    (rule,) = config(
        storage, "bucketLifecycleConfiguration:BucketLifecycleConfiguration", ACCESS_LOGS_BUCKET
    )["rules"]
    assert rule["expiration"]["days"] == stack_settings("dev").storage.access_log_expiry_days
