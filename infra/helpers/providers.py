"""The stack's explicit providers: one AWS provider carrying the cost tags, one Kubernetes provider.

Every resource and every lookup uses these (the stack files disable Pulumi's default
providers), so no resource can miss the default tags or land in another region.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.helpers.tags import cost_tags
from infra.settings import StackSettings


def aws_provider(settings: StackSettings) -> aws.Provider:
    """The AWS provider every resource uses: the stack's region, the cost tags as default tags."""
    return aws.Provider(
        "aws",
        region=settings.region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=cost_tags(settings)),
    )


@dataclass(frozen=True)
class AwsAccount:
    """Where the stack runs: region, account and partition, for building ARNs."""

    region: str
    account_id: pulumi.Output[str]
    partition: pulumi.Output[str]

    @classmethod
    def lookup(cls, provider: aws.Provider, region: str) -> AwsAccount:
        opts = pulumi.InvokeOutputOptions(provider=provider)
        return cls(
            region=region,
            account_id=aws.get_caller_identity_output(opts=opts).account_id,
            partition=aws.get_partition_output(opts=opts).partition,
        )

    def arn(self, service: str, resource: str, *, regional: bool = True) -> pulumi.Output[str]:
        """`arn:<partition>:<service>:<region>:<account>:<resource>` (region empty if global)."""
        region = self.region if regional else ""
        return pulumi.Output.concat(
            "arn:", self.partition, f":{service}:{region}:", self.account_id, f":{resource}"
        )


def kubeconfig(
    cluster_name: pulumi.Input[str],
    endpoint: pulumi.Input[str],
    certificate_authority: pulumi.Input[str],
    region: str,
) -> pulumi.Output[str]:
    """A kubeconfig that authenticates with `aws eks get-token` (no long-lived credential)."""
    return pulumi.Output.json_dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": cluster_name,
                    "cluster": {
                        "server": endpoint,
                        "certificate-authority-data": certificate_authority,
                    },
                }
            ],
            "contexts": [
                {"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}
            ],
            "current-context": cluster_name,
            "users": [
                {
                    "name": cluster_name,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": [
                                "eks",
                                "get-token",
                                "--cluster-name",
                                cluster_name,
                                "--region",
                                region,
                                "--output",
                                "json",
                            ],
                            "interactiveMode": "Never",
                        }
                    },
                }
            ],
        }
    )


def kubernetes_provider(
    name: str, config: pulumi.Input[str], *, parent: pulumi.Resource
) -> k8s.Provider:
    return k8s.Provider(
        name,
        kubeconfig=config,
        enable_server_side_apply=True,
        opts=pulumi.ResourceOptions(parent=parent),
    )
