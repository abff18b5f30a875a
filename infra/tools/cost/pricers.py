"""Which pricing rule bills which resource type; types not listed here are not priced."""

from __future__ import annotations

from infra.tools.cost.context import Pricer
from infra.tools.cost.pricing_compute import price_cluster, price_instance, price_node_group
from infra.tools.cost.pricing_network import (
    price_interface_endpoint,
    price_load_balancer,
    price_nat_gateway,
    price_public_ip,
)
from infra.tools.cost.pricing_services import price_key, price_log_group, price_secret
from infra.tools.cost.pricing_storage import (
    price_bucket,
    price_repository,
    price_volume,
    price_volume_claims,
)

PRICERS: dict[str, Pricer] = {
    "aws:eks/cluster:Cluster": price_cluster,
    "aws:eks/nodeGroup:NodeGroup": price_node_group,
    "aws:ec2/instance:Instance": price_instance,
    "aws:ebs/volume:Volume": price_volume,
    "aws:ec2/natGateway:NatGateway": price_nat_gateway,
    "aws:ec2/eip:Eip": price_public_ip,
    "aws:ec2/vpcEndpoint:VpcEndpoint": price_interface_endpoint,
    "aws:lb/loadBalancer:LoadBalancer": price_load_balancer,
    "aws:alb/loadBalancer:LoadBalancer": price_load_balancer,
    "aws:s3/bucket:Bucket": price_bucket,
    "aws:s3/bucketV2:BucketV2": price_bucket,
    "aws:kms/key:Key": price_key,
    "aws:cloudwatch/logGroup:LogGroup": price_log_group,
    "aws:ecr/repository:Repository": price_repository,
    "aws:secretsmanager/secret:Secret": price_secret,
    "kubernetes:helm.sh/v3:Release": price_volume_claims,
    "kubernetes:core/v1:PersistentVolumeClaim": price_volume_claims,
}
