"""The self-managed Pulumi state backend (`make bootstrap-state`): every role reads the stack
outputs; the deploy and infra roles write this stack's state objects, nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi

from infra.helpers.iam import Statement
from infra.settings import state_bucket_name, state_key_alias

if TYPE_CHECKING:
    from infra.components.ci_access.component import CiAccessArgs

# The Pulumi S3 backend's layout, per project and stack (`.pulumi/<kind>/<project>/<stack>...`).
STATE_KINDS = ("stacks", "history", "backups", "locks")


def _bucket_arn(args: CiAccessArgs) -> pulumi.Output[str]:
    account = args.account
    bucket = account.account_id.apply(lambda a: state_bucket_name(args.project, a))
    return pulumi.Output.concat("arn:", account.partition, ":s3:::", bucket)


def _state_key(args: CiAccessArgs, sid: str, actions: list[str]) -> Statement:
    # `make bootstrap-state` made the key behind this alias (state and secrets). Matching on the
    # alias needs no lookup, so it holds whichever region the backend lives in.
    account = args.account
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions,
        "Resource": pulumi.Output.concat(
            "arn:", account.partition, ":kms:*:", account.account_id, ":key/*"
        ),
        "Condition": {
            "ForAnyValue:StringEquals": {"kms:ResourceAliases": state_key_alias(args.project)}
        },
    }


def read(args: CiAccessArgs) -> list[Statement]:
    """Read access to the self-managed state backend, so CI can read stack outputs."""
    if args.state.backend != "s3":
        return []
    bucket_arn = _bucket_arn(args)
    return [
        {
            "Sid": "ListState",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
            "Resource": bucket_arn,
        },
        {
            "Sid": "ReadState",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": pulumi.Output.concat(bucket_arn, "/*"),
        },
        _state_key(args, "DecryptState", ["kms:Decrypt", "kms:DescribeKey"]),
    ]


def write(args: CiAccessArgs) -> list[Statement]:
    """`pulumi up` writes this stack's checkpoint, history, backups and lock, nothing else."""
    if args.state.backend != "s3":
        return []
    bucket_arn = _bucket_arn(args)
    project, stack = args.project, args.stack
    paths = [f".pulumi/stacks/{project}/{stack}.json*"] + [
        f".pulumi/{kind}/{project}/{stack}/*" for kind in STATE_KINDS[1:]
    ]
    return [
        {
            "Sid": "WriteStackState",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:DeleteObject"],
            "Resource": [pulumi.Output.concat(bucket_arn, f"/{path}") for path in paths],
        },
        # The bucket encrypts new objects with the state key (SSE-KMS).
        _state_key(args, "EncryptState", ["kms:GenerateDataKey", "kms:Encrypt"]),
    ]
