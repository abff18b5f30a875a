"""ECR repositories scan on push and keep tags immutable."""

from __future__ import annotations

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
)

from infra.policy.validators.properties import get as _get
from infra.policy.validators.resource_types import (
    ECR_REPOSITORY_TYPE,
)


def scanned_immutable_repositories(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """ECR repositories scan every pushed image and never let a tag move to another image."""
    if args.resource_type != ECR_REPOSITORY_TYPE:
        return
    scanning = _get(args.props, "imageScanningConfiguration") or {}
    if _get(scanning, "scanOnPush") is not True:
        report_violation("images are not scanned on push: set image_scanning_configuration", None)
    if _get(args.props, "imageTagMutability") != "IMMUTABLE":
        report_violation("image tags can be overwritten: set image_tag_mutability=IMMUTABLE", None)
