"""The stack's monthly AWS budget, its alerts, and the cost-allocation tags it filters on.

Budgets alert through an SNS topic encrypted with a key of this stack; email subscribers confirm
their subscription once (AWS sends a confirmation mail). The budget counts the spend carrying
both this project's and this environment's cost tag (a filter expression ANDs them; the older
TagKeyValue cost filter could only OR its values). Cost Explorer only reports, and Budgets only
filters, by tags activated in the billing account: `activateCostAllocationTags` does that for
ml.core.identity.COST_TAG_KEYS, once per account.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.helpers.args import AwsName, validate_fields
from infra.helpers.notifications import email_alert_topic, tls_only_statement
from infra.settings import BudgetSettings
from ml.core.identity import COST_LABEL_KEYS, COST_TAG_KEYS, LabelValue, load_identity

BUDGETS_SERVICE = "budgets.amazonaws.com"
# The cost labels that single out one stack: ml.core.identity orders them project, environment, ...
PROJECT_TAG, ENVIRONMENT_TAG = COST_LABEL_KEYS[:2]
# What the budget adds up: the list price of what was used, before credits and discounts.
BUDGET_METRIC = "UnblendedCost"


@dataclass(frozen=True)
class BudgetArgs:
    """The stack's budget settings plus the names the program derives; checked on creation."""

    settings: BudgetSettings
    environment: LabelValue
    # The budget's name, unique in the account (ml.core.identity.budget_name).
    name: AwsName
    topic_name: AwsName

    def __post_init__(self) -> None:
        validate_fields(self)


def stack_tags(environment: str) -> dict[str, str]:
    """The two cost tags that make a resource this stack's: project and environment."""
    labels = load_identity().cost_labels(environment)
    return {key: labels[key] for key in (PROJECT_TAG, ENVIRONMENT_TAG)}


def filter_expression(environment: str) -> aws.budgets.BudgetFilterExpressionArgs:
    """Spend tagged with this project AND this environment (cost allocation tag keys as they
    are, the way Cost Explorer expressions name them)."""
    return aws.budgets.BudgetFilterExpressionArgs(
        ands=[
            aws.budgets.BudgetFilterExpressionAndArgs(
                tags=aws.budgets.BudgetFilterExpressionAndTagsArgs(
                    key=key, values=[value], match_options=["EQUALS"]
                )
            )
            for key, value in stack_tags(environment).items()
        ]
    )


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
                tls_only_statement(topic_arn),
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
            ("ACTUAL", args.settings.actual_alert_percent),
            ("FORECASTED", args.settings.forecast_alert_percent),
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
        topic, policy = email_alert_topic(
            name,
            topic_name=args.topic_name,
            key_arn=key.arn,
            policy=lambda arn: pulumi.Output.all(arn, account_id, partition).apply(
                lambda v: topic_policy(*v)
            ),
            emails=args.settings.alert_emails,
            parent=self,
        )

        budget = aws.budgets.Budget(
            f"{name}-monthly",
            name=args.name,
            budget_type="COST",
            time_unit="MONTHLY",
            limit_amount=f"{args.settings.monthly_limit_usd:.2f}",
            limit_unit="USD",
            filter_expression=filter_expression(args.environment),
            metrics=BUDGET_METRIC,
            notifications=notifications(args, topic.arn),
            # Budgets checks that it may publish when the notification is created.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, key]),
        )

        if args.settings.activate_cost_allocation_tags:
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
