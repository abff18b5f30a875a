"""The stack's KMS key: rotated, owned by the account's IAM, usable by its own log groups only."""

from __future__ import annotations

from infra.components.key import StackKey, StackKeyArgs
from infra.tools.mocks import ACCOUNT_ID
from tests.support.pulumi_unit import declare, on, policy, stack_settings


def test_stack_key_rotates_and_serves_only_stack_log_groups() -> None:
    naming = stack_settings("dev").naming
    declared = declare(
        lambda provider, account: {
            "arn": StackKey("stack", StackKeyArgs(naming, account), opts=on(provider)).arn
        }
    )
    key = declared.one("aws:kms/key:Key").inputs
    assert key["enableKeyRotation"] is True and key["deletionWindowInDays"] == 30
    assert declared.one("aws:kms/alias:Alias").inputs["name"] == f"alias/{naming.prefix}"
    assert declared.values["arn"].startswith(f"arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/")
    statements = {s["Sid"]: s for s in policy(key["policy"])["Statement"]}
    assert set(statements) == {
        "AccountIamPoliciesGovernKey",
        "CloudWatchLogsEncryptsStackLogGroups",
        "EventBridgeEncryptsForStackQueues",
    }
    root = statements["AccountIamPoliciesGovernKey"]
    assert root["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}
    logs = statements["CloudWatchLogsEncryptsStackLogGroups"]
    assert logs["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    assert "kms:Decrypt*" in logs["Action"] and "kms:*" not in logs["Action"]
    groups = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    prefix = f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:"
    assert groups == [
        f"{prefix}{naming.cluster_log_group}",
        f"{prefix}{naming.log_group_prefix}*",
    ]
    # EventBridge may encrypt only for the stack's queues (Karpenter's interruption queue).
    events = statements["EventBridgeEncryptsForStackQueues"]
    assert events["Principal"] == {"Service": "events.amazonaws.com"}
    assert events["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"]
    assert events["Condition"] == {
        "ArnLike": {
            "kms:EncryptionContext:aws:sqs:arn": f"arn:aws:sqs:us-east-1:{ACCOUNT_ID}:"
            f"{naming.prefix}-*"
        }
    }
