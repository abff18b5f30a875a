"""KMS: the stack's key (decrypt, use), and the keys and alias the stack declares."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infra.helpers.iam import Statement
from ml.core.identity import COST_LABEL_KEYS

if TYPE_CHECKING:
    from infra.components.ci_access.component import CiAccessArgs


def decrypt(args: CiAccessArgs) -> list[Statement]:
    return [
        {
            "Sid": "DecryptStackData",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": args.key_arn,
        }
    ]


def write(args: CiAccessArgs) -> list[Statement]:
    return [
        {
            "Sid": "UseStackKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            "Resource": args.key_arn,
        }
    ]


def _stack_tags(args: CiAccessArgs, kind: str) -> dict[str, str]:
    """The project and environment tags, on a request (`RequestTag`) or a key (`ResourceTag`)."""
    project, environment = COST_LABEL_KEYS[:2]
    return {
        f"aws:{kind}/{project}": args.project,
        f"aws:{kind}/{environment}": args.naming.environment,
    }


def manage(args: CiAccessArgs) -> list[Statement]:
    account = args.account
    return [
        {
            # A key's id is random: new keys must carry the stack's tags, and only keys
            # carrying them can be used or changed.
            "Sid": "CreateTaggedKeys",
            "Effect": "Allow",
            "Action": ["kms:CreateKey", "kms:TagResource"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    **_stack_tags(args, "RequestTag"),
                    "aws:RequestedRegion": account.region,
                }
            },
        },
        {
            "Sid": "ManageTaggedKeys",
            "Effect": "Allow",
            "Action": "kms:*",
            "Resource": account.arn("kms", "key/*"),
            "Condition": {"StringEquals": _stack_tags(args, "ResourceTag")},
        },
        {
            "Sid": "ManageKeyAlias",
            "Effect": "Allow",
            "Action": ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"],
            "Resource": account.arn("kms", args.naming.kms_alias),
        },
        {
            "Sid": "ListKeys",
            "Effect": "Allow",
            "Action": ["kms:ListAliases", "kms:ListKeys"],
            "Resource": "*",
        },
    ]
