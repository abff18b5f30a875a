"""The `network` section: the VPC's address blocks, zones, NAT and flow logs."""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from infra.settings.fields import Cidr, LogRetentionDays, Section, describe


class FlowLogSettings(Section):
    """VPC flow logs: who talked to whom, kept in a log group encrypted with the stack's key."""

    enabled: bool = describe(
        "Record the VPC's traffic to CloudWatch Logs. Recommended everywhere; off saves its "
        "ingestion cost (billed per GB of records), which is why dev ships with false."
    )
    retention_days: LogRetentionDays = describe(
        "Days the flow-log group keeps records (a CloudWatch Logs retention value)."
    )
    traffic_type: Literal["ALL", "ACCEPT", "REJECT"] = describe(
        "Which traffic to record: ALL, or only ACCEPT-ed or REJECT-ed connections."
    )


class NetworkSettings(Section):
    vpc_cidr: Cidr = describe("The VPC's IPv4 block, /16 to /28.")
    az_count: Annotated[int, Field(ge=2, le=3)] = describe(
        "Availability zones the VPC spans (2 or 3); one public and one private subnet each."
    )
    public_subnet_cidrs: list[Cidr] = describe(
        "One block per zone for the public subnets (load balancers; nodes when natMode is none)."
    )
    private_subnet_cidrs: list[Cidr] = describe(
        "One block per zone for the private subnets (the control plane's interfaces; nodes "
        "behind NAT)."
    )
    nat_mode: Literal["single", "per_az", "none"] = describe(
        "single: one NAT gateway for the VPC (cheap); per_az: one per zone (survives a zone "
        "outage); none: no NAT, nodes run in the public subnets with public IPs (inbound still "
        "closed)."
    )
    flow_logs: FlowLogSettings = describe("The VPC's flow logs.")

    @field_validator("public_subnet_cidrs", "private_subnet_cidrs")
    @classmethod
    def _subnets_fit(cls, subnets: list[IPv4Network], info: ValidationInfo) -> list[IPv4Network]:
        vpc, azs = info.data.get("vpc_cidr"), info.data.get("az_count")
        if azs is not None and len(subnets) != azs:
            raise ValueError(f"needs one subnet per zone: {len(subnets)} given, azCount is {azs}")
        outside = [str(s) for s in subnets if vpc is not None and not s.subnet_of(vpc)]
        if outside:
            raise ValueError(f"{', '.join(outside)} outside the VPC block {vpc}")
        earlier = list(info.data.get("public_subnet_cidrs") or [])
        taken = earlier + list(subnets)
        for i, one in enumerate(taken):
            for other in taken[i + 1 :]:
                if one.overlaps(other):
                    raise ValueError(f"{one} overlaps {other}")
        return subnets
