"""The AWS regions a stack may run in: the one list `make init`, copier and the settings check.

Standard library only: `make init` (ml/forking) reads it before any dependency is installed.
"""

from __future__ import annotations

# The commercial partition (arn:aws) only: the infra names endpoints `*.amazonaws.com`, which
# the China and GovCloud partitions don't use. copier.yml's `aws_region` choices repeat it
# (tests/ml/forking/test_copier.py keeps both equal; test_values.py, equal to botocore's list).
AWS_REGIONS: tuple[str, ...] = (
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
)
