"""The budget component under Pulumi's mocks, and its documents accepted by moto's AWS APIs."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from pydantic import ValidationError

from infra.components.budget import BUDGET_METRIC, Budget, BudgetArgs
from infra.settings import BudgetSettings
from ml.core.identity import COST_TAG_KEYS, budget_name, load_identity
from tests.support.pulumi_unit import PROJECT
from tests.support.rendering import ACCOUNT_ID, Declared, by_type, render

EMAILS = ["platform@example.com", "finance@example.com"]
BUDGET = "aws:budgets/budget:Budget"
# The budget section of a stack file (camelCase keys).
SECTION = {
    "monthlyLimitUsd": 150,
    "alertEmails": EMAILS,
    "actualAlertPercent": 80,
    "forecastAlertPercent": 100,
    "activateCostAllocationTags": False,
}


def budget(**section: Any) -> list[Declared]:
    args = BudgetArgs(
        settings=BudgetSettings.model_validate({**SECTION, **section}),
        environment="dev",
        name=budget_name(PROJECT, "dev"),
        topic_name=f"{PROJECT}-dev-budget-alerts",
    )
    return render(lambda: Budget("budget", args) and None)


@pytest.fixture(scope="module")
def declared() -> list[Declared]:
    return budget(activateCostAllocationTags=True)


def one(resources: list[Declared], typ: str) -> dict[str, Any]:
    (found,) = by_type(resources, typ)
    return found.inputs


def test_monthly_cost_budget_for_this_project_and_environment(declared: list[Declared]) -> None:
    inputs = one(declared, BUDGET)
    identity = load_identity()
    assert inputs["name"] == f"{PROJECT}-dev"
    assert (inputs["budgetType"], inputs["timeUnit"]) == ("COST", "MONTHLY")
    assert (inputs["limitAmount"], inputs["limitUnit"]) == ("150.00", "USD")
    assert inputs["metrics"] == BUDGET_METRIC
    assert "costFilters" not in inputs
    # Both tags at once (AND): another project's dev, or this project's prod, do not count.
    assert inputs["filterExpression"] == {
        "ands": [
            {"tags": {"key": "project", "values": [identity.project], "matchOptions": ["EQUALS"]}},
            {"tags": {"key": "environment", "values": ["dev"], "matchOptions": ["EQUALS"]}},
        ]
    }


def test_the_budget_is_named_as_the_rollout_gate_reads_it() -> None:
    from ml.release import budget_gate as rollout_check

    assert rollout_check.budget_name is budget_name


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
    assert topic["name"] == f"{PROJECT}-dev-budget-alerts"
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
    ("section", "key"),
    [
        ({"alertEmails": ["not-an-email"]}, "alertEmails.0"),
        ({"alertEmails": []}, "alertEmails"),
        ({"monthlyLimitUsd": 0}, "monthlyLimitUsd"),
        ({"forecastAlertPercent": -5}, "forecastAlertPercent"),
        ({"activateCostAllocationTags": "sometimes"}, "activateCostAllocationTags"),
    ],
)
def test_bad_settings_name_the_key(section: dict[str, Any], key: str) -> None:
    with pytest.raises(ValidationError) as raised:
        BudgetSettings.model_validate({**SECTION, **section})
    assert key in {".".join(map(str, e["loc"])) for e in raised.value.errors()}


@pytest.mark.parametrize(
    ("key", "value"),
    [("environment", "not a label"), ("name", "-budget"), ("topic_name", "alerts topic")],
)
def test_bad_args_name_the_field(key: str, value: str) -> None:
    fields = {
        "environment": "dev",
        "name": budget_name(PROJECT, "dev"),
        "topic_name": f"{PROJECT}-dev-budget-alerts",
        key: value,
    }
    with pytest.raises(ValueError, match=f"^BudgetArgs: {key}: String should match"):
        BudgetArgs(settings=BudgetSettings.model_validate(SECTION), **fields)


def _expression(value: Any) -> Any:
    """Pulumi's inputs as the Budgets API spells them (`ands` -> `And`, `key` -> `Key`)."""
    names = {"ands": "And", "tags": "Tags", "key": "Key", "values": "Values"}
    names["matchOptions"] = "MatchOptions"
    if isinstance(value, dict):
        return {names[k]: _expression(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expression(v) for v in value]
    return value


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
            "FilterExpression": _expression(inputs["filterExpression"]),
            "Metrics": [inputs["metrics"]],
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
    assert stored["FilterExpression"] == _expression(inputs["filterExpression"])
    listed = budgets.describe_notifications_for_budget(
        AccountId=ACCOUNT_ID, BudgetName=inputs["name"]
    )["Notifications"]
    assert {n["NotificationType"] for n in listed} == {"ACTUAL", "FORECASTED"}
    attributes = sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    assert attributes["KmsMasterKeyId"] == key["Arn"]
    assert json.loads(attributes["Policy"])["Statement"][0]["Resource"] == topic_arn
