"""Where alerts go: the encrypted SNS topic with its email subscribers, and Alertmanager's role."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.components.monitoring.args import MonitoringArgs
from infra.components.monitoring.names import ALERTMANAGER_SERVICE_ACCOUNT
from infra.helpers.iam import Statement, irsa_role
from infra.helpers.notifications import email_alert_topic, tls_only_topic_policy


def publish_statements(
    topic_arn: pulumi.Input[str], key_arn: pulumi.Input[str], region: str
) -> list[Statement]:
    """Publish to the topic, and have SNS encrypt with the stack's key on the caller's behalf."""
    return [
        {
            "Sid": "PublishAlerts",
            "Effect": "Allow",
            "Action": "sns:Publish",
            "Resource": topic_arn,
        },
        {
            # The topic is encrypted with the stack's key; SNS uses it on our behalf.
            "Sid": "EncryptThroughSns",
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
            "Resource": key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": f"sns.{region}.amazonaws.com"}},
        },
    ]


def alert_topic(
    name: str, args: MonitoringArgs, parent: pulumi.Resource
) -> tuple[aws.sns.Topic, aws.iam.Role]:
    """The encrypted topic with its email subscribers, and Alertmanager's role to publish."""
    sink = args.alert_sink
    topic, _ = email_alert_topic(
        name,
        topic_name=sink.naming.topic("alerts"),
        key_arn=sink.key_arn,
        policy=lambda arn: arn.apply(tls_only_topic_policy),
        emails=args.settings.alert_emails,
        parent=parent,
    )
    role = irsa_role(
        f"{name}-alertmanager",
        sink.naming.role("alertmanager"),
        sink.irsa,
        args.namespace,
        ALERTMANAGER_SERVICE_ACCOUNT,
        publish_statements(topic.arn, sink.key_arn, sink.region),
        parent=parent,
    )
    return topic, role
