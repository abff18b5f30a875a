"""The resource types and properties the policies look at."""

from __future__ import annotations

BUCKET_TYPES = frozenset({"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"})
ENCRYPTION_TYPES = frozenset(
    {
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
    }
)
PUBLIC_ACCESS_BLOCK_TYPE = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
PUBLIC_ACCESS_FLAGS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)
ENCRYPTION_ALGORITHMS = frozenset({"AES256", "aws:kms", "aws:kms:dsse"})
PUBLIC_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
ECR_REPOSITORY_TYPE = "aws:ecr/repository:Repository"
NODE_GROUP_TYPE = "aws:eks/nodeGroup:NodeGroup"
EKS_CLUSTER_TYPE = "aws:eks/cluster:Cluster"
# Karpenter NodePools, declared as pulumi_kubernetes CustomResources of karpenter.sh/v1.
NODE_POOL_TYPE = "kubernetes:karpenter.sh/v1:NodePool"
# Where IAM policy documents live, by resource type: a property holding one document, or
# `inlinePolicies` holding a list of {name, policy}.
POLICY_DOCUMENT_PROPERTY = {
    "aws:iam/policy:Policy": "policy",
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
}
ROLE_TYPE = "aws:iam/role:Role"
POLICY_ATTACHMENT_TYPES = frozenset(
    {
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/userPolicyAttachment:UserPolicyAttachment",
        "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
        "aws:iam/policyAttachment:PolicyAttachment",
    }
)
# AWS's managed policy that allows every action on every resource.
ADMINISTRATOR_POLICY_SUFFIX = ":iam::aws:policy/AdministratorAccess"
