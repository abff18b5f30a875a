"""Cost tags on every AWS resource and cost labels on every node, from ml.core.identity only.

Most resources get the tags from the AWS provider's `default_tags` (infra/helpers/providers.py). Two
places the provider's default tags never reach are handled here: the instances and volumes a
node group's launch template starts, and the node group's Auto Scaling group itself.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from infra.settings import StackSettings


def cost_tags(settings: StackSettings) -> dict[str, str]:
    """AWS cost-allocation tags of this stack: ml.core.identity's keys, the stack's environment."""
    return settings.identity.cost_tags(settings.environment)


def cost_labels(settings: StackSettings) -> dict[str, str]:
    """The same keys as Kubernetes labels (nodes, add-on pods)."""
    return settings.identity.cost_labels(settings.environment)


# Resource types a launch template tags at launch: the instance and its EBS volumes (and ENIs,
# so network costs are attributable too).
LAUNCH_TAGGED_RESOURCES = ("instance", "volume", "network-interface")


def launch_template_tag_specifications(
    tags: Mapping[str, pulumi.Input[str]],
) -> list[aws.ec2.LaunchTemplateTagSpecificationArgs]:
    """Tag specifications carrying `tags` onto what a launch template starts."""
    return [
        aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=dict(tags))
        for kind in LAUNCH_TAGGED_RESOURCES
    ]


def tag_autoscaling_group(
    name: str,
    group_name: pulumi.Input[str],
    tags: Mapping[str, str],
    *,
    parent: pulumi.Resource,
) -> list[aws.autoscaling.Tag]:
    """Tag an Auto Scaling group that something else (EKS) created, one resource per tag.

    `propagate_at_launch` stays false: instances get their tags from the launch template.
    """
    return [
        aws.autoscaling.Tag(
            f"{name}-{_slug(key)}",
            autoscaling_group_name=group_name,
            tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
            opts=pulumi.ResourceOptions(parent=parent),
        )
        for key, value in tags.items()
    ]


def _slug(key: str) -> str:
    """A tag key made fit for a logical resource name (`k8s.io/x/y` -> `k8s.io-x-y`)."""
    return key.replace("/", "-").replace(":", "-")
