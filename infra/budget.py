"""The stack's monthly AWS budget, its alerts, and the cost-allocation tags it filters on.

Budgets alert through an SNS topic encrypted with a key of this stack; email subscribers confirm
their subscription once (AWS sends a confirmation mail). The cost-allocation tags are the keys of
ml.identity.COST_TAG_KEYS: Cost Explorer only reports, and Budgets only filters, by tags activated
in the billing account.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import pulumi
import pulumi_aws as aws
from pydantic import BaseModel, ConfigDict, Field

from ml.identity import COST_TAG_KEYS, LabelValue, load_identity

BUDGETS_SERVICE = "budgets.amazonaws.com"
Email = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
]
Percent = Annotated[float, Field(gt=0, le=1000)]


class BudgetArgs(BaseModel):
    """What the stack's config decides about its budget; plain values, validated on creation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    environment: LabelValue
    # The budget's name, unique in the account (the stack's naming prefix).
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]
    monthly_limit_usd: Annotated[float, Field(gt=0, le=1_000_000)]
    alert_emails: Annotated[list[Email], Field(min_length=1, max_length=10)]
    actual_percent: Percent = 80
    forecast_percent: Percent = 100
    # Tag activation is account-wide: exactly one stack per billing account should own it.
    activate_cost_allocation_tags: bool = False


def cost_filter_values(environment: str) -> list[str]:
    """Budgets' `TagKeyValue` filter: this project's and this environment's tag.

    AWS ORs the values of one filter, so in an account shared by several projects' environments
    the budget counts more than this stack (it errs towards alerting early, never late).
    """
    identity = load_identity()
    return [
        f"user:project${identity.project}",
        f"user:environment${environment}",
    ]


def key_policy(account_id: str, partition: str) -> str:
    """The account administers the key; AWS Budgets may only use it to publish to the topic."""
    root = f"arn:{partition}:iam::{account_id}:root"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountAdministers",
                    "Effect": "Allow",
                    "Principal": {"AWS": root},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "BudgetsPublishEncrypted",
                    "Effect": "Allow",
                    "Principal": {"Service": BUDGETS_SERVICE},
                    "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                },
            ],
        }
    )


def topic_policy(topic_arn: str, account_id: str, partition: str) -> str:
    """Only this account's budgets publish; nothing reaches the topic without TLS."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "BudgetsPublish",
                    "Effect": "Allow",
                    "Principal": {"Service": BUDGETS_SERVICE},
                    "Action": "SNS:Publish",
                    "Resource": topic_arn,
                    "Condition": {
                        "StringEquals": {"aws:SourceAccount": account_id},
                        "ArnLike": {"aws:SourceArn": f"arn:{partition}:budgets::{account_id}:*"},
                    },
                },
                {
                    "Sid": "TlsOnly",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "SNS:Publish",
                    "Resource": topic_arn,
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        }
    )


def notifications(args: BudgetArgs, topic_arn: pulumi.Input[str]) -> list[Any]:
    """Spend past `actual_percent`, and a forecast past `forecast_percent`, of the limit."""
    return [
        aws.budgets.BudgetNotificationArgs(
            notification_type=kind,
            comparison_operator="GREATER_THAN",
            threshold=percent,
            threshold_type="PERCENTAGE",
            subscriber_sns_topic_arns=[topic_arn],
        )
        for kind, percent in (
            ("ACTUAL", args.actual_percent),
            ("FORECASTED", args.forecast_percent),
        )
    ]


class Budget(pulumi.ComponentResource):
    """A monthly cost budget for this stack's tagged resources, alerting by email through SNS."""

    topic_arn: pulumi.Output[str]
    budget_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: BudgetArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:budget:Budget", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        account_id = aws.get_caller_identity_output(opts=invoke).account_id
        partition = aws.get_partition_output(opts=invoke).partition

        key = aws.kms.Key(
            f"{name}-alerts-key",
            description=f"Encrypts the budget alerts topic of {args.name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.all(account_id, partition).apply(lambda v: key_policy(*v)),
            opts=child,
        )
        topic = aws.sns.Topic(
            f"{name}-alerts",
            kms_master_key_id=key.arn,
            opts=child,
        )
        policy = aws.sns.TopicPolicy(
            f"{name}-alerts-policy",
            arn=topic.arn,
            policy=pulumi.Output.all(topic.arn, account_id, partition).apply(
                lambda v: topic_policy(*v)
            ),
            opts=child,
        )
        for index, email in enumerate(args.alert_emails):
            aws.sns.TopicSubscription(
                f"{name}-alerts-email-{index}",
                topic=topic.arn,
                protocol="email",
                endpoint=email,
                opts=child,
            )

        budget = aws.budgets.Budget(
            f"{name}-monthly",
            name=args.name,
            budget_type="COST",
            time_unit="MONTHLY",
            limit_amount=f"{args.monthly_limit_usd:.2f}",
            limit_unit="USD",
            cost_filters=[
                aws.budgets.BudgetCostFilterArgs(
                    name="TagKeyValue", values=cost_filter_values(args.environment)
                )
            ],
            notifications=notifications(args, topic.arn),
            # Budgets checks that it may publish when the notification is created.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, key]),
        )

        if args.activate_cost_allocation_tags:
            for tag_key in COST_TAG_KEYS:
                aws.costexplorer.CostAllocationTag(
                    f"{name}-cost-tag-{tag_key}",
                    tag_key=tag_key,
                    status="Active",
                    opts=child,
                )

        self.topic_arn = topic.arn
        self.budget_name = budget.name
        self.register_outputs({"topic_arn": self.topic_arn, "budget_name": self.budget_name})
