"""Interruption handling: an SQS queue, encrypted with the stack's key, that EventBridge feeds with
the EC2 and AWS Health events announcing a node's end, so Karpenter drains it in time.

Spot instances get two minutes' warning; rebalance recommendations come earlier, scheduled
maintenance days earlier. Karpenter cordons and drains the node and launches its replacement.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.helpers.iam import Statement, deny_without_tls, document
from infra.helpers.providers import AwsAccount
from infra.settings import Naming

# EventBridge patterns Karpenter acts on, by rule (its reference template's four rules).
INTERRUPTION_EVENTS: dict[str, dict[str, list[str]]] = {
    "spot": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "state": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
    # Scheduled changes: maintenance AWS Health announces for the instances.
    "health": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
}
# Events older than Karpenter could act on are of no use: keep messages five minutes.
RETENTION_SECONDS = 300
TARGET_ID = "karpenter-interruption-queue"
SENDERS = ("events.amazonaws.com", "sqs.amazonaws.com")


def queue_name(naming: Naming) -> str:
    """Under the stack's prefix, which the stack key's policy lets EventBridge encrypt for."""
    return f"{naming.prefix}-karpenter-interruptions"


def rule_name(naming: Naming, kind: str) -> str:
    """Under the stack's prefix too (at most 64 characters: the kinds are short)."""
    return f"{naming.prefix}-karpenter-{kind}"


@dataclass(frozen=True)
class InterruptionQueue:
    queue: aws.sqs.Queue
    policy: aws.sqs.QueuePolicy
    rules: dict[str, aws.cloudwatch.EventRule]
    targets: list[aws.cloudwatch.EventTarget]

    @property
    def ready(self) -> list[pulumi.Resource]:
        """What must exist before the controller reads the queue: events already flowing in."""
        return [self.queue, self.policy, *self.targets]


def queue_statements(
    queue_arn: pulumi.Input[str], rule_arns: list[pulumi.Output[str]]
) -> list[Statement]:
    """EventBridge may send only from the stack's rules; nothing reaches it without TLS."""
    return [
        {
            "Sid": "EventBridgeRulesSend",
            "Effect": "Allow",
            "Principal": {"Service": SENDERS[0]},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arns}},
        },
        {
            # As in Karpenter's reference template.
            "Sid": "SqsSends",
            "Effect": "Allow",
            "Principal": {"Service": SENDERS[1]},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
        },
        deny_without_tls("DenyWithoutTls", "sqs:*", queue_arn),
    ]


def interruption_queue(
    naming: Naming,
    key_arn: pulumi.Input[str],
    *,
    parent: pulumi.Resource,
) -> InterruptionQueue:
    """The queue, its policy, and one EventBridge rule (and target) per kind of event."""
    child = pulumi.ResourceOptions(parent=parent)
    queue = aws.sqs.Queue(
        "karpenter-interruptions",
        name=queue_name(naming),
        message_retention_seconds=RETENTION_SECONDS,
        kms_master_key_id=key_arn,
        opts=child,
    )
    rules = {
        kind: aws.cloudwatch.EventRule(
            f"karpenter-{kind}",
            name=rule_name(naming, kind),
            description=f"Karpenter interruption handling: {pattern['detail-type'][0]}",
            event_pattern=json.dumps(pattern),
            opts=child,
        )
        for kind, pattern in INTERRUPTION_EVENTS.items()
    }
    policy = aws.sqs.QueuePolicy(
        "karpenter-interruptions",
        queue_url=queue.url,
        policy=document(*queue_statements(queue.arn, [r.arn for r in rules.values()])),
        opts=child,
    )
    targets = [
        aws.cloudwatch.EventTarget(
            f"karpenter-{kind}",
            rule=rule.name,
            arn=queue.arn,
            target_id=TARGET_ID,
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[policy]),
        )
        for kind, rule in rules.items()
    ]
    return InterruptionQueue(queue, policy, rules, targets)


def key_statement(account: AwsAccount, naming: Naming) -> Statement:
    """The stack key's policy statement (infra/components/key.py) that lets EventBridge send
    into the stack's encrypted queues: SQS asks KMS for a data key on the sender's behalf, with
    the queue's ARN as encryption context."""
    return {
        "Sid": "EventBridgeEncryptsForStackQueues",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
        "Resource": "*",
        "Condition": {
            "ArnLike": {
                "kms:EncryptionContext:aws:sqs:arn": account.arn("sqs", f"{naming.prefix}-*")
            }
        },
    }
