"""An EKS cluster's public API endpoint is not open to the whole internet (advisory: dev's is,
so the template can be tried with GitHub's hosted runners)."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from infra.policy.validators.properties import get as _get
from infra.policy.validators.resource_types import EKS_CLUSTER_TYPE

ANYWHERE = "0.0.0.0/0"


def public_endpoint_not_open(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """A public endpoint (AWS's default) with no CIDRs, or with 0.0.0.0/0, takes any caller."""
    if args.resource_type != EKS_CLUSTER_TYPE:
        return
    vpc = _get(args.props, "vpcConfig") or {}
    if _get(vpc, "endpointPublicAccess") is False:
        return
    cidrs = _get(vpc, "publicAccessCidrs")
    # Left out (None), AWS opens the endpoint to everyone.
    if cidrs and ANYWHERE not in cidrs:
        return
    report_violation(
        f"the cluster's public API endpoint is open to {ANYWHERE}: list the networks that need "
        "it in cluster.publicAccessCidrs, or set cluster.endpointPublicAccess to false",
        None,
    )
