"""ECR: the stack's image repository (read, push, manage) and the registry login."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infra.helpers.iam import Statement

if TYPE_CHECKING:
    from infra.components.ci_access.component import CiAccessArgs

READ_ACTIONS = (
    "ecr:DescribeImages",
    "ecr:DescribeRepositories",
    "ecr:ListImages",
    "ecr:DescribeImageScanFindings",
)
PUSH_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
)


def log_in() -> Statement:
    # GetAuthorizationToken has no resource-level permissions: AWS requires "*".
    return {
        "Sid": "LogInToRegistry",
        "Effect": "Allow",
        "Action": "ecr:GetAuthorizationToken",
        "Resource": "*",
    }


def read(args: CiAccessArgs) -> list[Statement]:
    return [
        {
            "Sid": "ReadImages",
            "Effect": "Allow",
            "Action": list(READ_ACTIONS),
            "Resource": args.ecr_repository_arn,
        }
    ]


def write(args: CiAccessArgs) -> list[Statement]:
    return [
        log_in(),
        {
            "Sid": "PushImages",
            "Effect": "Allow",
            "Action": list(PUSH_ACTIONS),
            "Resource": args.ecr_repository_arn,
        },
    ]


def manage(args: CiAccessArgs) -> list[Statement]:
    return [
        {
            "Sid": "ManageRegistry",
            "Effect": "Allow",
            "Action": "ecr:*",
            # The bento and runner-image repositories, and nothing outside the stack's prefix.
            "Resource": args.account.arn("ecr", f"repository/{args.naming.ecr_repositories}"),
        },
        log_in(),
    ]
