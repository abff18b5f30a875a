"""The bento image registry: immutable tags, scan on push, KMS, pruned by its lifecycle policy."""

from __future__ import annotations

import json

from infra.components.registry import RUNNERS, Registry, RegistryArgs, lifecycle_policy
from infra.tools.mocks import ACCOUNT_ID
from tests.support.pulumi_unit import PROJECT, declare, on, stack_settings


def test_registry_is_immutable_scanned_encrypted_and_pruned() -> None:
    settings = stack_settings("prod")
    key_arn = "arn:aws:kms:us-east-1:123456789012:key/stack"
    declared = declare(
        lambda provider, account: {
            "url": Registry(
                "bentos",
                RegistryArgs(settings.registry, settings.naming, key_arn),
                opts=on(provider),
            ).url
        },
        settings,
    )
    repo = declared.one("aws:ecr/repository:Repository").inputs
    assert repo["name"] == f"{settings.naming.prefix}/bentos"
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": key_arn}]
    assert repo["forceDelete"] is False  # prod keeps its images on `pulumi destroy`
    assert declared.values["url"] == (
        f"{ACCOUNT_ID}.dkr.ecr.us-east-1.amazonaws.com/{settings.naming.prefix}/bentos"
    )
    attached = declared.one("aws:ecr/lifecyclePolicy:LifecyclePolicy").inputs
    assert attached["policy"] == lifecycle_policy(settings.registry)


def test_lifecycle_expires_untagged_then_keeps_the_newest() -> None:
    registry = stack_settings("dev").registry
    untagged, tagged = json.loads(lifecycle_policy(registry))["rules"]
    assert untagged["selection"] == {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": registry.untagged_expiry_days,
    }
    # ECR requires the catch-all rule to carry the highest priority number.
    assert tagged["rulePriority"] > untagged["rulePriority"]
    assert tagged["selection"] == {
        "tagStatus": "any",
        "countType": "imageCountMoreThan",
        "countNumber": registry.keep_images,
    }
    assert {untagged["action"]["type"], tagged["action"]["type"]} == {"expire"}


def test_the_runner_images_repository_is_a_second_registry_of_its_own() -> None:
    settings = stack_settings("dev")
    key_arn = "arn:aws:kms:us-east-1:123456789012:key/stack"

    def program(provider, account):
        bentos = Registry(
            "bentos", RegistryArgs(settings.registry, settings.naming, key_arn), on(provider)
        )
        runners = Registry(
            "runners",
            RegistryArgs(settings.registry, settings.naming, key_arn, purpose=RUNNERS),
            on(provider),
        )
        return {"bentos": bentos.url, "runners": runners.url}

    declared = declare(program, settings)
    repos = {r.name: r for r in declared.of_type("aws:ecr/repository:Repository")}
    # The bento repository keeps its name and URN: stacks keep their images.
    assert repos["bentos"].inputs["name"] == settings.naming.ecr_repository
    assert repos["bentos"].urn == (
        f"urn:pulumi:unit::{PROJECT}::mlops:registry:Registry$aws:ecr/repository:Repository::bentos"
    )
    runners = repos["runners"].inputs
    assert runners["name"] == f"{settings.naming.prefix}/runners"
    assert runners["imageTagMutability"] == "IMMUTABLE"
    assert runners["imageScanningConfiguration"] == {"scanOnPush": True}
    assert runners["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": key_arn}]
    assert declared.values["runners"].endswith(f"/{settings.naming.prefix}/runners")
    assert len(declared.of_type("aws:ecr/lifecyclePolicy:LifecyclePolicy")) == 2
