"""The VPC's flow logs: a log group encrypted with the stack's key, the role that delivers to it
and the flow log itself; declared by Network, as its children, when `network.flowLogs` is on."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.helpers.iam import document, role_with_policy
from infra.helpers.providers import AwsAccount
from infra.settings import Naming
from infra.settings.network import FlowLogSettings

FLOW_LOGS_SERVICE = "vpc-flow-logs.amazonaws.com"
# `make cost` finds the flow-log group by this tag and prices it by the flow-log assumption.
PURPOSE_TAG, FLOW_LOGS_PURPOSE = "purpose", "vpc-flow-logs"
DELIVERY_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams")


def flow_log_group_name(naming: Naming) -> str:
    # Under the stack's log-group prefix, which the stack key's policy already lets Logs use.
    return f"{naming.log_group_prefix}{FLOW_LOGS_PURPOSE}"


@dataclass(frozen=True)
class FlowLogArgs:
    """The flow-log settings, the stack's names, account and key, and the VPC to watch."""

    settings: FlowLogSettings
    naming: Naming
    account: AwsAccount
    key_arn: pulumi.Input[str]
    vpc_id: pulumi.Input[str]


@dataclass(frozen=True)
class FlowLogResources:
    log_group: aws.cloudwatch.LogGroup
    role: aws.iam.Role
    flow_log: aws.ec2.FlowLog


def delivery_trust(account: AwsAccount) -> pulumi.Output[str]:
    """Only VPC flow logs of this account may assume the role (no confused deputy)."""
    return document(
        {
            "Effect": "Allow",
            "Principal": {"Service": FLOW_LOGS_SERVICE},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account.account_id},
                "ArnLike": {"aws:SourceArn": account.arn("ec2", "vpc-flow-log/*")},
            },
        }
    )


def flow_logs(name: str, args: FlowLogArgs, *, parent: pulumi.Resource) -> FlowLogResources:
    """The log group, its delivery role (writes to that group only) and the VPC's flow log."""
    child = pulumi.ResourceOptions(parent=parent)
    group_name = flow_log_group_name(args.naming)
    group = aws.cloudwatch.LogGroup(
        f"{name}-flow-logs",
        name=group_name,
        retention_in_days=args.settings.retention_days,
        kms_key_id=args.key_arn,
        tags={"Name": f"{args.naming.prefix}-{FLOW_LOGS_PURPOSE}", PURPOSE_TAG: FLOW_LOGS_PURPOSE},
        opts=child,
    )
    # The group's ARN (no `:*`) for DescribeLogStreams, its streams for the other two.
    streams = pulumi.Output.concat(group.arn, ":*")
    role, policy = role_with_policy(
        f"{name}-flow-logs",
        args.naming.role(FLOW_LOGS_PURPOSE),
        delivery_trust(args.account),
        [
            {
                "Sid": "DeliverFlowLogs",
                "Effect": "Allow",
                "Action": list(DELIVERY_ACTIONS),
                "Resource": [group.arn, streams],
            }
        ],
        parent=parent,
        description=f"VPC flow logs of {args.naming.prefix} to {group_name}",
    )
    flow_log = aws.ec2.FlowLog(
        f"{name}-flow-logs",
        vpc_id=args.vpc_id,
        traffic_type=args.settings.traffic_type,
        log_destination_type="cloud-watch-logs",
        log_destination=group.arn,
        iam_role_arn=role.arn,
        tags={"Name": f"{args.naming.prefix}-{FLOW_LOGS_PURPOSE}"},
        # The role's policy must exist before the first delivery, or it fails until retried.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[policy]),
    )
    return FlowLogResources(group, role, flow_log)
