"""The stack's KMS key: its buckets, image registry, Kubernetes secrets, control-plane and VPC
flow logs."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components.karpenter.interruption import key_statement
from infra.helpers.iam import document
from infra.helpers.options import renamed
from infra.helpers.providers import AwsAccount
from infra.settings import Naming


@dataclass(frozen=True)
class StackKeyArgs:
    """Whose key it is (the stack's names) and where (the account, partition and region)."""

    naming: Naming
    account: AwsAccount


def key_policy(account: AwsAccount, naming: Naming) -> pulumi.Output[str]:
    """The account's IAM policies govern the key; CloudWatch Logs may use it for our log groups."""
    logs_context = [
        account.arn("logs", f"log-group:{naming.cluster_log_group}"),
        account.arn("logs", f"log-group:{naming.log_group_prefix}*"),
    ]
    return document(
        {
            # Key policies must name an owner; delegating to the account's IAM policies is
            # AWS's default and keeps the key manageable. In a key policy, Resource "*"
            # means this key only.
            "Sid": "AccountIamPoliciesGovernKey",
            "Effect": "Allow",
            "Principal": {
                "AWS": pulumi.Output.concat(
                    "arn:", account.partition, ":iam::", account.account_id, ":root"
                )
            },
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            # CloudWatch Logs encrypts the stack's log groups, and only those: the control
            # plane's and those under the stack's prefix (the VPC flow logs among them).
            "Sid": "CloudWatchLogsEncryptsStackLogGroups",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{account.region}.amazonaws.com"},
            "Action": [
                "kms:Encrypt*",
                "kms:Decrypt*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            "Resource": "*",
            "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": logs_context}},
        },
        # EventBridge delivers spot interruptions into Karpenter's encrypted queue.
        key_statement(account, naming),
    )


class StackKey(pulumi.ComponentResource):
    """One customer-managed key with yearly rotation, reachable as `alias/<project>-<env>`."""

    def __init__(
        self, name: str, args: StackKeyArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        # Stacks created before the tokens followed the module names keep their key.
        super().__init__("mlops:key:StackKey", name, None, renamed(opts, "mlops:infra:StackKey"))
        naming = args.naming
        child = pulumi.ResourceOptions(parent=self)
        self.key = aws.kms.Key(
            name,
            description=f"Encrypts the data of {naming.prefix}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=key_policy(args.account, naming),
            opts=child,
        )
        self.alias = aws.kms.Alias(
            name, name=naming.kms_alias, target_key_id=self.key.key_id, opts=child
        )
        self.arn: pulumi.Output[str] = self.key.arn
        self.register_outputs({"arn": self.arn, "alias": self.alias.name})
