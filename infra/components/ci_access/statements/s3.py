"""S3: the DVC and artifacts buckets' objects, and the stack's buckets by name prefix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pulumi

from infra.helpers.iam import Statement

if TYPE_CHECKING:
    from infra.components.ci_access.component import CiAccessArgs


def objects(arns: Sequence[pulumi.Input[str]]) -> list[pulumi.Output[str]]:
    return [pulumi.Output.concat(arn, "/*") for arn in arns]


def read(args: CiAccessArgs) -> list[Statement]:
    buckets = [args.dvc_bucket_arn, args.artifacts_bucket_arn]
    return [
        {
            "Sid": "ListData",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
            "Resource": buckets,
        },
        {
            "Sid": "ReadData",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": objects(buckets),
        },
    ]


def write(args: CiAccessArgs) -> list[Statement]:
    return [
        {
            "Sid": "WriteData",
            "Effect": "Allow",
            # The registry tags each bento archive with its cost labels (ml/release/publish.py).
            "Action": ["s3:PutObject", "s3:PutObjectTagging"],
            "Resource": objects([args.dvc_bucket_arn, args.artifacts_bucket_arn]),
        }
    ]


def manage(args: CiAccessArgs) -> list[Statement]:
    prefix = args.naming.prefix
    return [
        {
            "Sid": "ManageBuckets",
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": [pulumi.Output.concat("arn:", args.account.partition, f":s3:::{prefix}-*")],
        }
    ]
