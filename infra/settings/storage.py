"""The `storage` and `registry` sections: the S3 buckets' lifecycle and the ECR repository's."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from infra.settings.fields import Days, Section, describe


class StorageSettings(Section):
    noncurrent_version_expiry_days: Days = describe(
        "Days an overwritten or deleted object version is kept in the data buckets."
    )
    intelligent_tiering_after_days: Annotated[int, Field(ge=0, le=3650)] = describe(
        "Days after which objects move to S3 Intelligent-Tiering (0: at once)."
    )
    access_log_expiry_days: Days = describe("Days S3 server access logs are kept.")
    force_destroy: bool = describe(
        "Let `pulumi destroy` empty the buckets; keep false where data must outlive the stack."
    )


class RegistrySettings(Section):
    keep_images: Annotated[int, Field(ge=1, le=1000)] = describe(
        "Newest tagged images kept in ECR; older ones expire."
    )
    untagged_expiry_days: Annotated[int, Field(ge=1, le=365)] = describe(
        "Days untagged image layers are kept."
    )
    force_delete: bool = describe("Let `pulumi destroy` delete the repository with its images.")
