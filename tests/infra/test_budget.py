"""The budget component under Pulumi's mocks, and its documents accepted by moto's AWS APIs."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from pydantic import ValidationError

from infra.budget import Budget, BudgetArgs
from ml.identity import COST_TAG_KEYS, load_identity
from tests.infra.rendering import ACCOUNT_ID, Declared, by_type, render

EMAILS = ["ml-platform@example.com", "finance@example.com"]
BUDGET = "aws:budgets/budget:Budget"


def budget(**overrides: Any) -> list[Declared]:
    args = BudgetArgs(
        **{
            "environment": "dev",
            "name": "mlops-template-dev",
            "monthly_limit_usd": 150,
            "alert_emails": EMAILS,
            **overrides,
        }
    )
    return render(lambda: Budget("budget", args) and None)


@pytest.fixture(scope="module")
def declared() -> list[Declared]:
    return budget(activate_cost_allocation_tags=True)


def one(resources: list[Declared], typ: str) -> dict[str, Any]:
    (found,) = by_type(resources, typ)
    return found.inputs


def test_monthly_cost_budget_for_this_project_and_environment(declared: list[Declared]) -> None:
    inputs = one(declared, BUDGET)
    identity = load_identity()
    assert inputs["name"] == "mlops-template-dev"
    assert (inputs["budgetType"], inputs["timeUnit"]) == ("COST", "MONTHLY")
    assert (inputs["limitAmount"], inputs["limitUnit"]) == ("150.00", "USD")
    assert inputs["costFilters"] == [
        {
            "name": "TagKeyValue",
            "values": [f"user:project${identity.project}", "user:environment$dev"],
        }
    ]


def test_alerts_at_80_percent_actual_and_100_percent_forecast(declared: list[Declared]) -> None:
    topic_arn = "arn:aws:mock:::budget-alerts"
    notifications = one(declared, BUDGET)["notifications"]
    assert sorted(
        (n["notificationType"], n["threshold"], n["thresholdType"], n["comparisonOperator"])
        for n in notifications
    ) == [
        ("ACTUAL", 80, "PERCENTAGE", "GREATER_THAN"),
        ("FORECASTED", 100, "PERCENTAGE", "GREATER_THAN"),
    ]
    assert all(n["subscriberSnsTopicArns"] == [topic_arn] for n in notifications)


def test_topic_is_encrypted_and_emails_subscribe(declared: list[Declared]) -> None:
    topic = one(declared, "aws:sns/topic:Topic")
    assert topic["kmsMasterKeyId"] == "arn:aws:mock:::budget-alerts-key"
    key = one(declared, "aws:kms/key:Key")
    assert key["enableKeyRotation"] is True
    subscriptions = by_type(declared, "aws:sns/topicSubscription:TopicSubscription")
    assert sorted(s.inputs["endpoint"] for s in subscriptions) == sorted(EMAILS)
    assert {s.inputs["protocol"] for s in subscriptions} == {"email"}


def _statements(document: str) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in json.loads(document)["Statement"]}


def test_only_budgets_of_this_account_may_publish(declared: list[Declared]) -> None:
    key = _statements(one(declared, "aws:kms/key:Key")["policy"])
    assert key["BudgetsPublishEncrypted"]["Principal"] == {"Service": "budgets.amazonaws.com"}
    assert set(key["BudgetsPublishEncrypted"]["Action"]) == {"kms:GenerateDataKey*", "kms:Decrypt"}
    assert key["BudgetsPublishEncrypted"]["Condition"]["StringEquals"] == {
        "aws:SourceAccount": ACCOUNT_ID
    }
    topic = _statements(one(declared, "aws:sns/topicPolicy:TopicPolicy")["policy"])
    publish = topic["BudgetsPublish"]
    assert publish["Principal"] == {"Service": "budgets.amazonaws.com"}
    assert publish["Action"] == "SNS:Publish"
    assert publish["Resource"] == "arn:aws:mock:::budget-alerts"
    assert publish["Condition"]["ArnLike"] == {"aws:SourceArn": f"arn:aws:budgets::{ACCOUNT_ID}:*"}
    assert topic["TlsOnly"]["Effect"] == "Deny"


def test_cost_allocation_tags_are_activated_when_asked(declared: list[Declared]) -> None:
    tags = by_type(declared, "aws:costexplorer/costAllocationTag:CostAllocationTag")
    assert sorted(t.inputs["tagKey"] for t in tags) == sorted(COST_TAG_KEYS)
    assert {t.inputs["status"] for t in tags} == {"Active"}
    default = budget()
    assert by_type(default, "aws:costexplorer/costAllocationTag:CostAllocationTag") == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"alert_emails": ["not-an-email"]}, "alert_emails.0"),
        ({"alert_emails": []}, "alert_emails"),
        ({"monthly_limit_usd": 0}, "monthly_limit_usd"),
        ({"forecast_percent": -5}, "forecast_percent"),
    ],
)
def test_bad_settings_name_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        BudgetArgs(
            **{
                "environment": "dev",
                "name": "mlops-template-dev",
                "monthly_limit_usd": 150,
                "alert_emails": EMAILS,
                **overrides,
            }
        )


def test_aws_apis_accept_the_declared_documents(declared: list[Declared], aws_env: str) -> None:
    """The key policy, topic policy and budget as declared, sent to moto's KMS, SNS, Budgets."""
    kms = boto3.client("kms")
    key = kms.create_key(Policy=one(declared, "aws:kms/key:Key")["policy"])["KeyMetadata"]
    sns = boto3.client("sns")
    topic_arn = sns.create_topic(Name="budget-alerts", Attributes={"KmsMasterKeyId": key["Arn"]})[
        "TopicArn"
    ]
    policy = one(declared, "aws:sns/topicPolicy:TopicPolicy")["policy"]
    sns.set_topic_attributes(
        TopicArn=topic_arn,
        AttributeName="Policy",
        AttributeValue=policy.replace("arn:aws:mock:::budget-alerts", topic_arn),
    )

    inputs = one(declared, BUDGET)
    budgets = boto3.client("budgets")
    budgets.create_budget(
        AccountId=ACCOUNT_ID,
        Budget={
            "BudgetName": inputs["name"],
            "BudgetLimit": {"Amount": inputs["limitAmount"], "Unit": inputs["limitUnit"]},
            "CostFilters": {f["name"]: f["values"] for f in inputs["costFilters"]},
            "TimeUnit": inputs["timeUnit"],
            "BudgetType": inputs["budgetType"],
        },
        NotificationsWithSubscribers=[
            {
                "Notification": {
                    "NotificationType": n["notificationType"],
                    "ComparisonOperator": n["comparisonOperator"],
                    "Threshold": n["threshold"],
                    "ThresholdType": n["thresholdType"],
                },
                "Subscribers": [{"SubscriptionType": "SNS", "Address": topic_arn}],
            }
            for n in inputs["notifications"]
        ],
    )
    stored = budgets.describe_budget(AccountId=ACCOUNT_ID, BudgetName=inputs["name"])["Budget"]
    assert stored["CostFilters"] == {"TagKeyValue": cost_values(inputs)}
    listed = budgets.describe_notifications_for_budget(
        AccountId=ACCOUNT_ID, BudgetName=inputs["name"]
    )["Notifications"]
    assert {n["NotificationType"] for n in listed} == {"ACTUAL", "FORECASTED"}
    attributes = sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    assert attributes["KmsMasterKeyId"] == key["Arn"]
    assert json.loads(attributes["Policy"])["Statement"][0]["Resource"] == topic_arn


def cost_values(inputs: dict[str, Any]) -> list[str]:
    (only,) = inputs["costFilters"]
    return only["values"]
