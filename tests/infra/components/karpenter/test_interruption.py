"""Interruption handling: the encrypted queue, the four EventBridge rules feeding it, its policy,
and the key policy statement EventBridge needs to send into it."""

from __future__ import annotations

import json
from fnmatch import fnmatch

import pytest

from infra.components.karpenter import INTERRUPTION_EVENTS, key_statement, queue_name, rule_name
from infra.settings import Naming
from infra.tools.mocks import ACCOUNT_ID
from tests.infra.components.karpenter.stack import release, stack
from tests.support.pulumi_unit import KEY, REGION, Declared, declare, policy, stack_settings

RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"


@pytest.fixture(scope="module")
def dev() -> Declared:
    return stack("dev")


def queue_arn(naming) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{queue_name(naming)}"


def test_queue_is_encrypted_with_the_stack_key_and_keeps_messages_briefly(dev: Declared) -> None:
    queue = dev.one("aws:sqs/queue:Queue").inputs
    naming = stack_settings("dev").naming
    assert queue["name"] == queue_name(naming)
    assert queue["name"].startswith(f"{naming.prefix}-") and len(queue["name"]) <= 80
    assert queue["kmsMasterKeyId"] == KEY
    assert queue["messageRetentionSeconds"] == 300
    # The controller reads this queue, by name.
    values = release(dev, "karpenter").inputs["values"]
    assert values["settings"]["interruptionQueue"] == queue["name"]


def test_four_rules_send_the_interruption_events_to_the_queue(dev: Declared) -> None:
    rules = {r.name: r for r in dev.of_type(RULE)}
    patterns = {name: json.loads(r.inputs["eventPattern"]) for name, r in rules.items()}
    assert patterns == {f"karpenter-{kind}": p for kind, p in INTERRUPTION_EVENTS.items()}
    naming = stack_settings("dev").naming
    for kind in INTERRUPTION_EVENTS:
        name = rules[f"karpenter-{kind}"].inputs["name"]
        assert name == rule_name(naming, kind) and name.startswith(f"{naming.prefix}-")
    detail_types = {t for p in patterns.values() for t in p["detail-type"]}
    assert detail_types == {
        "EC2 Spot Instance Interruption Warning",
        "EC2 Instance Rebalance Recommendation",
        "EC2 Instance State-change Notification",
        "AWS Health Event",
    }
    queue_policy = dev.one("aws:sqs/queuePolicy:QueuePolicy")
    targets = dev.of_type(TARGET)
    assert sorted(t.inputs["rule"] for t in targets) == sorted(r.id for r in rules.values())
    for target in targets:
        assert target.inputs["arn"] == queue_arn(stack_settings("dev").naming)
        # Events flow only once the queue accepts them.
        assert queue_policy.urn in target.dependencies


def test_queue_policy_admits_only_the_stacks_rules_and_tls(dev: Declared) -> None:
    queue = dev.one("aws:sqs/queue:Queue")
    queue_policy = dev.one("aws:sqs/queuePolicy:QueuePolicy").inputs
    assert queue_policy["queueUrl"] == queue.id
    statements = {s["Sid"]: s for s in policy(queue_policy["policy"])["Statement"]}
    arn = queue_arn(stack_settings("dev").naming)
    events = statements["EventBridgeRulesSend"]
    assert events["Principal"] == {"Service": "events.amazonaws.com"}
    assert (events["Action"], events["Resource"]) == ("sqs:SendMessage", arn)
    rule_arns = [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{r.id}" for r in dev.of_type(RULE)]
    assert sorted(events["Condition"]["ArnEquals"]["aws:SourceArn"]) == sorted(rule_arns)
    assert statements["SqsSends"]["Principal"] == {"Service": "sqs.amazonaws.com"}
    deny = statements["DenyWithoutTls"]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "sqs:*")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def longest_naming() -> Naming:
    """The longest names the stack's naming rules (bucket and role name limits) accept."""
    project = "p"
    while not Naming(f"{project}p", "production").too_long():
        project += "p"
    return Naming(project, "production")


def test_names_fit_eventbridge_and_sqs_for_the_longest_prefix() -> None:
    naming = longest_naming()
    assert len(naming.prefix) > 30
    assert all(len(rule_name(naming, kind)) <= 64 for kind in INTERRUPTION_EVENTS)
    assert len(queue_name(naming)) <= 80


def test_key_statement_lets_eventbridge_encrypt_for_this_queue_only() -> None:
    naming = stack_settings("dev").naming
    other = stack_settings("prod").naming

    def program(provider, account):
        return {"statement": key_statement(account, naming)}

    statement = declare(program).values["statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert set(statement["Action"]) == {"kms:GenerateDataKey", "kms:Decrypt"}
    (pattern,) = statement["Condition"]["ArnLike"].values()
    assert fnmatch(queue_arn(naming), pattern)
    assert not fnmatch(queue_arn(other), pattern)
