"""What the runners may reach: their service account and its IAM role (IRSA).

A training job pulls the pipeline's inputs from the DVC remote, pushes what it produced back,
and reads the artifacts bucket; nothing else in the account. The statements reuse the CI roles'
and the model pods' builders, so every bucket grant reads the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.components.ci_access.statements.s3 import objects
from infra.components.serving.access import key_through_s3
from infra.components.serving.names import IRSA_ANNOTATION
from infra.components.training.args import TrainingRunnersArgs
from infra.components.training.names import RUNNER_ROLE_PURPOSE, RUNNER_SERVICE_ACCOUNT
from infra.helpers.iam import Statement, irsa_role


def runner_statements(
    dvc_bucket_arn: pulumi.Input[str],
    artifacts_bucket_arn: pulumi.Input[str],
    key_arn: pulumi.Input[str],
    region: str,
) -> list[Statement]:
    """List and read both buckets, write objects to the DVC remote only; the stack key only
    through S3. No delete: a job never removes what another run pushed."""
    buckets = [dvc_bucket_arn, artifacts_bucket_arn]
    return [
        {
            "Sid": "ListData",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
            "Resource": buckets,
        },
        {
            "Sid": "ReadData",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": objects(buckets),
        },
        {
            "Sid": "WriteDvcRemote",
            "Effect": "Allow",
            # DVC uploads large files in parts; an upload it gives up on is aborted.
            "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
            "Resource": objects([dvc_bucket_arn]),
        },
        # Reading needs Decrypt, writing GenerateDataKey (and Decrypt for multipart uploads).
        key_through_s3(key_arn, region, ["kms:Decrypt", "kms:GenerateDataKey"]),
    ]


def runner_access(
    name: str,
    args: TrainingRunnersArgs,
    labels: Mapping[str, str],
    *,
    parent: pulumi.Resource,
    after: Sequence[pulumi.Resource],
) -> tuple[k8s.core.v1.ServiceAccount, aws.iam.Role]:
    """The runner pods' service account, annotated with the IAM role only it may assume."""
    namespace = args.settings.namespace
    role = irsa_role(
        f"{name}-runner",
        args.naming.role(RUNNER_ROLE_PURPOSE),
        args.irsa,
        namespace,
        RUNNER_SERVICE_ACCOUNT,
        runner_statements(
            args.dvc_bucket_arn, args.artifacts_bucket_arn, args.key_arn, args.region
        ),
        parent=parent,
    )
    account = k8s.core.v1.ServiceAccount(
        f"{name}-runner",
        metadata={
            "name": RUNNER_SERVICE_ACCOUNT,
            "namespace": namespace,
            "labels": dict(labels),
            "annotations": {IRSA_ANNOTATION: role.arn},
        },
        # Jobs talk to AWS, not to the Kubernetes API (IRSA's token is projected regardless).
        automount_service_account_token=False,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(after)),
    )
    return account, role
