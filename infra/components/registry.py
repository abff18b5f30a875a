"""The stack's ECR repositories, one per purpose (bento images, the training runners' image):
immutable tags, scanned on push, KMS-encrypted, pruned."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.helpers.options import renamed
from infra.settings import Naming, RegistrySettings

# What a repository holds; it is named `<prefix>/<purpose>`.
BENTOS = "bentos"
RUNNERS = "runners"


def lifecycle_policy(settings: RegistrySettings) -> str:
    """Expire untagged layers after some days; keep only the newest tagged images."""
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"Expire untagged images after {settings.untagged_expiry_days}"
                    " days",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": settings.untagged_expiry_days,
                    },
                    "action": {"type": "expire"},
                },
                {
                    # ECR wants the catch-all ("any") rule last; untagged ones went above.
                    "rulePriority": 2,
                    "description": f"Keep the newest {settings.keep_images} released images",
                    "selection": {
                        "tagStatus": "any",
                        "countType": "imageCountMoreThan",
                        "countNumber": settings.keep_images,
                    },
                    "action": {"type": "expire"},
                },
            ]
        }
    )


@dataclass(frozen=True)
class RegistryArgs:
    """The stack's registry settings, its names, the key images are encrypted with, and what
    the repository holds."""

    settings: RegistrySettings
    naming: Naming
    key_arn: pulumi.Input[str]
    purpose: str = BENTOS

    @property
    def repository_name(self) -> str:
        return self.naming.repository(self.purpose)


class Registry(pulumi.ComponentResource):
    """Where images are pushed to and the cluster pulls them from: the bentos (CI), or the
    training runners' image (`make runner-image`)."""

    def __init__(
        self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        # Stacks created before the tokens followed the module names keep their repository.
        super().__init__(
            "mlops:registry:Registry", name, None, renamed(opts, "mlops:infra:Registry")
        )
        child = pulumi.ResourceOptions(parent=self)
        self.repository = aws.ecr.Repository(
            name,
            name=args.repository_name,
            # A tag names one image forever, so a rollout record always means the same bytes.
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
                scan_on_push=True
            ),
            encryption_configurations=[
                aws.ecr.RepositoryEncryptionConfigurationArgs(
                    encryption_type="KMS", kms_key=args.key_arn
                )
            ],
            force_delete=args.settings.force_delete,
            opts=child,
        )
        aws.ecr.LifecyclePolicy(
            name,
            repository=self.repository.name,
            policy=lifecycle_policy(args.settings),
            opts=child,
        )
        self.url: pulumi.Output[str] = self.repository.repository_url
        self.arn: pulumi.Output[str] = self.repository.arn
        self.register_outputs({"url": self.url, "arn": self.arn})
