"""Encrypted SNS topics that mail their alerts to people: the budget's and Alertmanager's."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import pulumi
import pulumi_aws as aws

from infra.helpers.iam import Statement, deny_without_tls


def tls_only_statement(topic_arn: str) -> Statement:
    """Nothing reaches the topic without TLS."""
    return deny_without_tls("TlsOnly", "SNS:Publish", topic_arn)


def tls_only_topic_policy(topic_arn: str) -> str:
    """Only TLS; who may publish is up to IAM."""
    return json.dumps({"Version": "2012-10-17", "Statement": [tls_only_statement(topic_arn)]})


def email_alert_topic(
    name: str,
    *,
    topic_name: pulumi.Input[str],
    key_arn: pulumi.Input[str],
    policy: Callable[[pulumi.Output[str]], pulumi.Input[str]],
    emails: Sequence[str],
    parent: pulumi.Resource,
) -> tuple[aws.sns.Topic, aws.sns.TopicPolicy]:
    """The topic `<name>-alerts` encrypted with `key_arn`, its policy (from the topic's ARN), and
    one email subscription per address (each address confirms by mail before it receives)."""
    child = pulumi.ResourceOptions(parent=parent)
    topic = aws.sns.Topic(f"{name}-alerts", name=topic_name, kms_master_key_id=key_arn, opts=child)
    topic_policy = aws.sns.TopicPolicy(
        f"{name}-alerts-policy", arn=topic.arn, policy=policy(topic.arn), opts=child
    )
    for index, email in enumerate(emails):
        aws.sns.TopicSubscription(
            f"{name}-alerts-email-{index}",
            topic=topic.arn,
            protocol="email",
            endpoint=email,
            opts=child,
        )
    return topic, topic_policy
