"""Who may do what around the model service: the pods' and the drift job's IAM statements, and
the RBAC rules and binding of the CI deploy role in the deploy namespaces."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.components.serving.names import DEPLOYER_ROLE, PREDICTIONS_PREFIX
from infra.helpers.iam import Statement
from ml.core.artifacts import reference_key

# What the CI deploy role may do in the deploy namespaces: exactly the objects ModelServing
# declares, and reading what `pulumi up` watches while it waits for them.
_WRITE = ["get", "list", "watch", "create", "update", "patch", "delete"]
_READ = ["get", "list", "watch"]
DEPLOYER_RULES: list[k8s.rbac.v1.PolicyRuleArgsDict] = [
    {"api_groups": [""], "resources": ["services", "serviceaccounts"], "verbs": _WRITE},
    {"api_groups": [""], "resources": ["pods", "pods/log", "endpoints", "events"], "verbs": _READ},
    {"api_groups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": _READ},
    {"api_groups": ["apps"], "resources": ["replicasets"], "verbs": _READ},
    {"api_groups": ["batch"], "resources": ["cronjobs"], "verbs": _WRITE},
    {"api_groups": ["batch"], "resources": ["jobs"], "verbs": _READ},
    {"api_groups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": _WRITE},
    {"api_groups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": _WRITE},
    {"api_groups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": _WRITE},
    {
        "api_groups": ["argoproj.io"],
        "resources": ["rollouts", "analysistemplates"],
        "verbs": _WRITE,
    },
    {"api_groups": ["argoproj.io"], "resources": ["analysisruns"], "verbs": _READ},
    {"api_groups": ["monitoring.coreos.com"], "resources": ["servicemonitors"], "verbs": _WRITE},
]
DEPLOYER_ROLE_REF: k8s.rbac.v1.RoleRefArgsDict = {
    "api_group": "rbac.authorization.k8s.io",
    "kind": "Role",
    "name": DEPLOYER_ROLE,
}


def deployer_subjects(group: str) -> list[k8s.rbac.v1.SubjectArgsDict]:
    """The RoleBinding's subjects: the Kubernetes group the CI deploy role is a member of."""
    return [{"kind": "Group", "name": group, "api_group": "rbac.authorization.k8s.io"}]


def serving_statements(
    bucket_arn: pulumi.Input[str], key_arn: pulumi.Input[str], region: str
) -> list[Statement]:
    """The model pods write their request logs, and nothing else."""
    return [
        {
            "Sid": "WritePredictionLogs",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": pulumi.Output.concat(bucket_arn, f"/{PREDICTIONS_PREFIX}/*"),
        },
        key_through_s3(key_arn, region, ["kms:GenerateDataKey", "kms:Decrypt"]),
    ]


def drift_statements(
    bucket_arn: pulumi.Input[str], key_arn: pulumi.Input[str], region: str
) -> list[Statement]:
    """The drift job reads the request logs and the training rows, and nothing else."""
    prefixes = [PREDICTIONS_PREFIX, reference_key("*", "*").split("/", 1)[0]]
    return [
        {
            "Sid": "ListLogsAndReferences",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn,
            "Condition": {"StringLike": {"s3:prefix": [f"{p}/*" for p in prefixes]}},
        },
        {
            "Sid": "ReadLogsAndReferences",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": [pulumi.Output.concat(bucket_arn, f"/{p}/*") for p in prefixes],
        },
        key_through_s3(key_arn, region, ["kms:Decrypt"]),
    ]


def key_through_s3(key_arn: pulumi.Input[str], region: str, actions: list[str]) -> Statement:
    # The bucket is encrypted with the stack's key; only S3 may use it on the pods' behalf.
    return {
        "Sid": "StackKeyThroughS3",
        "Effect": "Allow",
        "Action": actions,
        "Resource": key_arn,
        "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
    }
