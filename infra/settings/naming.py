"""Every physical name the stack derives from its identity, and the AWS limits they must fit."""

from __future__ import annotations

from dataclasses import dataclass

from ml.core.identity import budget_name

# Buckets this stack owns, by purpose; the access-log bucket receives the others' access logs.
DVC_BUCKET, ARTIFACTS_BUCKET, ACCESS_LOGS_BUCKET = "dvc", "artifacts", "access-logs"
BUCKET_PURPOSES = (DVC_BUCKET, ARTIFACTS_BUCKET, ACCESS_LOGS_BUCKET)
ACCOUNT_ID_LENGTH = 12
# Pulumi auto-names IAM roles and node groups: logical name + "-" + 7 random characters.
AUTONAME_SUFFIX_LENGTH = 8
# IAM roles this stack names after its prefix (the longest decides the limit; the other roles,
# ebs-csi, alertmanager, serving, drift and ci-infra, have shorter purposes than these).
ROLE_PURPOSES = (
    "cluster",
    "node",
    "karpenter",
    "karpenter-node",
    "training-runner",
    "ci-plan",
    "ci-deploy",
)


@dataclass(frozen=True)
class Naming:
    """Every physical name the stack derives from project + environment, in one place."""

    project: str
    environment: str

    @property
    def prefix(self) -> str:
        return f"{self.project}-{self.environment}"

    @property
    def cluster(self) -> str:
        return self.prefix

    @property
    def cluster_log_group(self) -> str:
        # EKS writes control-plane logs to exactly this group; creating it first sets retention.
        return f"/aws/eks/{self.cluster}/cluster"

    @property
    def log_group_prefix(self) -> str:
        """Log groups the stack's own components create start with this."""
        return f"/{self.project}/{self.environment}/"

    def repository(self, purpose: str) -> str:
        """An ECR repository of the stack: `<prefix>/<purpose>` (bentos, runners)."""
        return f"{self.prefix}/{purpose}"

    @property
    def ecr_repository(self) -> str:
        return self.repository("bentos")

    @property
    def ecr_repositories(self) -> str:
        """A pattern matching every ECR repository of the stack."""
        return self.repository("*")

    @property
    def kms_alias(self) -> str:
        return f"alias/{self.prefix}"

    @property
    def budget(self) -> str:
        """The stack's monthly budget; ml/release/budget_gate.py finds it by the same rule."""
        return budget_name(self.project, self.environment)

    def topic(self, purpose: str) -> str:
        """An SNS topic of this stack (`alerts`, `budget-alerts`)."""
        return f"{self.prefix}-{purpose}"

    def bucket(self, purpose: str, account_id: str) -> str:
        # The account id keeps S3's global namespace from clashing across forks and accounts.
        return f"{self.prefix}-{purpose}-{account_id}"

    def role(self, purpose: str) -> str:
        """Logical name of an IAM role; Pulumi appends a random suffix."""
        return f"{self.prefix}-{purpose}"

    def too_long(self) -> list[str]:
        """Names that would break an AWS length limit, worst case (12-digit account id)."""
        account = "0" * ACCOUNT_ID_LENGTH
        limits = [(self.bucket(p, account), 63, "S3 bucket names allow") for p in BUCKET_PURPOSES]
        limits += [
            (self.role(p), 64 - AUTONAME_SUFFIX_LENGTH, "IAM role names (before the suffix) allow")
            for p in ROLE_PURPOSES
        ]
        return [
            f"{name!r} has {len(name)} characters, {what} {limit}"
            for name, limit, what in limits
            if len(name) > limit
        ]


def state_bucket_name(project: str, account_id: str) -> str:
    """The self-managed backend's bucket, shared by every stack of the project."""
    return f"{project}-pulumi-state-{account_id}"


def state_key_alias(project: str) -> str:
    """The KMS alias that encrypts the state bucket and the stacks' secrets."""
    return f"alias/{project}-pulumi-secrets"
