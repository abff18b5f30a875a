"""EC2: the region's zones, and the network and launch templates the stack declares."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infra.helpers.iam import Statement

if TYPE_CHECKING:
    from infra.components.ci_access.component import CiAccessArgs

NETWORK_ACTIONS = (
    "ec2:Describe*",
    "ec2:CreateTags",
    "ec2:DeleteTags",
    "ec2:*Vpc*",
    "ec2:*Subnet*",
    "ec2:*Route*",
    "ec2:*InternetGateway*",
    "ec2:*NatGateway*",
    "ec2:*Address*",
    "ec2:*SecurityGroup*",
    "ec2:*LaunchTemplate*",
    # VPC flow logs (network.flowLogs).
    "ec2:*FlowLogs",
)


def read(args: CiAccessArgs) -> list[Statement]:
    return [
        {
            # The program looks up the region's zones; AWS offers no resource-level scope.
            "Sid": "LookUpZones",
            "Effect": "Allow",
            "Action": "ec2:DescribeAvailabilityZones",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": args.account.region}},
        }
    ]


def manage(args: CiAccessArgs) -> list[Statement]:
    return [
        {
            # VPC, subnets, routes, gateways, addresses, security groups, launch templates:
            # EC2 creates them without resource-level scope, so the region bounds them.
            "Sid": "ManageNetwork",
            "Effect": "Allow",
            "Action": list(NETWORK_ACTIONS),
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": args.account.region}},
        }
    ]
