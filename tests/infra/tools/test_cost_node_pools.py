"""Karpenter's NodePools in the estimate, and the other types its setup adds, on synthetic plans.

Prices: the round test table (tests/data/plans/prices.yaml) plus the GPU types below; gp3 is
$0.10/GB-month, a public IPv4 address $0.005/h, a month 730 h. A NodePool costs nothing idle or
typically; its max is the dearest type its requirements allow, as many nodes as its limits admit.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from infra.tools.cost import CostError, Plan, estimate, parse_plan, report
from infra.tools.cost.prices import PriceTable
from infra.tools.cost.render import render_markdown, render_text
from tests.infra.tools.cost_data import HOURS, PRICES

AWS = "urn:pulumi:dev::p::pulumi:providers:aws::aws"
K8S = "urn:pulumi:dev::p::pulumi:providers:kubernetes::k8s"
POOL_TYPE = "kubernetes:karpenter.sh/v1:NodePool"
CLASS_TYPE = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
# The table has g5.xlarge at $1.00 on-demand, $0.40 Spot (us-east-1 only).
ON_DEMAND = {"g5.xlarge": 1.00, "g5.2xlarge": 1.20, "g6.xlarge": 0.80, "g6.2xlarge": 1.00}
ON_DEMAND |= {"g4dn.xlarge": 0.50}
SPOT = {"g5.xlarge": 0.40, "g5.2xlarge": 0.50, "g6.xlarge": 0.30, "g6.2xlarge": 0.40}
SPOT |= {"g4dn.xlarge": 0.20}
DISK = 150 * 0.10  # a 150 GiB gp3 volume a month
IPV4 = 0.005 * HOURS
STANDARD_LIMITS = {"cpu": "16", "memory": "64Gi", "nvidia.com/gpu": "2"}


def prices(region: str = "us-east-1") -> PriceTable:
    data = yaml.safe_load(PRICES.read_text(encoding="utf-8"))
    data["regions"][region]["ec2_on_demand_hourly"] |= ON_DEMAND
    data["regions"][region]["ec2_spot_hourly"] |= SPOT
    return PriceTable.model_validate(data)


def requirement(key: str, operator: str, *values: str) -> dict[str, Any]:
    return {"key": key, "operator": operator, "values": list(values)}


def node_pool(
    *extra: dict[str, Any],
    limits: dict[str, Any] | None = None,
    families: tuple[str, ...] = ("g6", "g5"),
    capacity: tuple[str, ...] | None = ("spot", "on-demand"),
    node_class: str = "al2023-nvidia",
) -> dict[str, Any]:
    requirements = [
        requirement("karpenter.k8s.aws/instance-family", "In", *families),
        requirement("karpenter.k8s.aws/instance-size", "In", "xlarge", "2xlarge"),
        requirement("kubernetes.io/arch", "In", "amd64"),
        *([requirement("karpenter.sh/capacity-type", "In", *capacity)] if capacity else []),
        *extra,
    ]
    spec = {
        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": node_class},
        "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}],
        "requirements": requirements,
    }
    return kubernetes_object(
        POOL_TYPE,
        "gpu-inference",
        {
            "weight": 50,
            "limits": STANDARD_LIMITS if limits is None else limits,
            "template": {"metadata": {"labels": {"workload-type": "inference"}}, "spec": spec},
        },
    )


def volume(size: str, device: str = "/dev/xvda") -> dict[str, Any]:
    return {
        "deviceName": device,
        "ebs": {"volumeSize": size, "volumeType": "gp3", "encrypted": True},
    }


def ec2_node_class(name: str = "al2023-nvidia", **spec: Any) -> dict[str, Any]:
    spec = {
        "amiSelectorTerms": [{"alias": "al2023@v20251117"}],
        "blockDeviceMappings": [volume("150Gi")],
        "subnetSelectorTerms": [{"tags": {"karpenter.sh/discovery": "[unknown]"}}],
        **spec,
    }
    return kubernetes_object(CLASS_TYPE, name, spec, name=f"{name}-nodes")


def kubernetes_object(
    kind: str, object_name: str, spec: dict[str, Any], name: str | None = None
) -> dict[str, Any]:
    name = name or object_name
    return {
        "urn": f"urn:pulumi:dev::p::{kind}::{name}",
        "type": kind,
        "name": name,
        "provider": f"{K8S}::id",
        "inputs": {"metadata": {"name": object_name}, "spec": spec},
    }


def aws(kind: str, name: str, inputs: dict[str, Any], id: str | None = None) -> dict[str, Any]:
    return {
        "urn": f"urn:pulumi:dev::p::{kind}::{name}",
        "type": kind,
        "name": name,
        "provider": f"{AWS}::id",
        "id": id,
        "inputs": inputs,
    }


def subnet(id: str, public: bool, **tags: str) -> dict[str, Any]:
    return aws("aws:ec2/subnet:Subnet", id, {"mapPublicIpOnLaunch": public, "tags": tags}, id)


def system_nodes(*subnet_ids: str) -> dict[str, Any]:
    inputs = {
        "instanceTypes": ["t3.medium"],
        "scalingConfig": {"minSize": 0, "desiredSize": 0, "maxSize": 0},
        "subnetIds": list(subnet_ids),
    }
    return aws("aws:eks/nodeGroup:NodeGroup", "system", inputs)


def plan(*resources: dict[str, Any], region: str = "us-east-1") -> Plan:
    providers = [
        {"urn": AWS, "type": "pulumi:providers:aws", "name": "aws", "inputs": {"region": region}},
        {"urn": K8S, "type": "pulumi:providers:kubernetes", "name": "k8s", "inputs": {}},
    ]
    return parse_plan({"stack": "dev", "resources": [*providers, *resources]}, "synthetic")


def priced(*resources: dict[str, Any], table: PriceTable | None = None) -> dict[str, Any]:
    """The NodePool's entry of the report."""
    result = report(plan(*resources), table or prices())
    return next(r for r in result["by_resource"] if r["type"] == POOL_TYPE)


def test_a_node_pool_costs_nothing_until_pods_ask_and_its_limits_at_most() -> None:
    pool = priced(node_pool(), ec2_node_class())
    # xlarge (4 vCPU, 16 GiB) and 2xlarge (8 vCPU, 32 GiB) both fit 2 nodes in the limits;
    # both capacity types are allowed, so on-demand prices the worst case: 2 x g5.2xlarge.
    assert (pool["idle"], pool["typical"]) == (0, 0)
    assert pool["max"] == pytest.approx(2 * (1.20 * HOURS + DISK))
    instances, disks = pool["items"]
    assert instances["description"].startswith(
        "max: 2 x g5.2xlarge on-demand (limits gpus 2, cpu 16, memory 64Gi)"
    )
    assert instances["max"] == pytest.approx(2 * 1.20 * HOURS)
    assert disks["description"] == "150 GiB gp3 per node (EC2NodeClass al2023-nvidia)"
    assert disks["max"] == pytest.approx(2 * DISK)


def test_the_tightest_limit_decides_how_many_nodes_of_each_type() -> None:
    # Memory allows 2 x 16 GiB or 1 x 32 GiB; the CPU limit in millicores allows 4 or 2.
    limits = {"cpu": "16000m", "memory": "40Gi", "nvidia.com/gpu": 4}
    pool = priced(node_pool(limits=limits), ec2_node_class())
    assert pool["items"][0]["description"].startswith("max: 2 x g5.xlarge on-demand")
    assert pool["max"] == pytest.approx(2 * (1.00 * HOURS + DISK))


def test_a_node_limit_caps_the_count_too() -> None:
    pool = priced(node_pool(limits={**STANDARD_LIMITS, "nodes": "1"}), ec2_node_class())
    assert pool["items"][0]["description"].startswith("max: 1 x g5.2xlarge on-demand")
    assert "limits gpus 2, cpu 16, memory 64Gi, nodes 1" in pool["items"][0]["description"]


@pytest.mark.parametrize(
    ("capacity", "expected", "hourly"),
    [
        (("spot",), "2 x g5.2xlarge spot", 0.50),
        (("on-demand",), "2 x g5.2xlarge on-demand", 1.20),
        # Karpenter's default without a capacity-type requirement is on-demand.
        (None, "2 x g5.2xlarge on-demand", 1.20),
    ],
)
def test_spot_prices_apply_only_when_the_pool_cannot_fall_back_to_on_demand(
    capacity: tuple[str, ...] | None, expected: str, hourly: float
) -> None:
    pool = priced(node_pool(capacity=capacity), ec2_node_class())
    assert pool["items"][0]["description"].startswith(f"max: {expected} ")
    assert pool["max"] == pytest.approx(2 * (hourly * HOURS + DISK))


def test_requirements_the_catalogue_can_judge_narrow_the_types() -> None:
    narrower = node_pool(
        requirement("node.kubernetes.io/instance-type", "NotIn", "g5.2xlarge"),
        requirement("karpenter.k8s.aws/instance-gpu-count", "Gt", "0"),
        requirement("karpenter.k8s.aws/instance-memory", "Lte", "16384"),
    )
    pool = priced(narrower, ec2_node_class())
    # Left: the 16 GiB xlarge types, of which g5.xlarge is the dearest.
    assert pool["items"][0]["description"].startswith("max: 2 x g5.xlarge on-demand")


def test_every_allowed_type_needs_a_price() -> None:
    families = node_pool(families=("g6", "g4dn"))
    with pytest.raises(CostError) as raised:
        priced(families, ec2_node_class())
    assert "no price for g4dn.2xlarge under regions.us-east-1.ec2_on_demand_hourly" in str(
        raised.value
    )
    assert "run `make prices REGION=us-east-1`" in str(raised.value)


def test_a_node_pool_is_priced_in_its_clusters_region() -> None:
    with pytest.raises(CostError, match=r"no price for g\d\.\S+ under regions\.eu-west-1\."):
        estimate(plan(node_pool(), ec2_node_class(), region="eu-west-1"), prices())
    table = prices("eu-west-1")
    result = report(plan(node_pool(), ec2_node_class(), region="eu-west-1"), table)
    # eu-west-1's gp3 costs $0.20/GB-month in the test table.
    assert result["max_monthly_usd"] == pytest.approx(2 * (1.20 * HOURS + 150 * 0.20))


def test_nodes_in_public_subnets_pay_for_an_address_each() -> None:
    public, private = subnet("subnet-1", True), subnet("subnet-2", False)
    # The selector's tags are known only once deployed: the system node group's subnets count.
    fallback = priced(node_pool(), ec2_node_class(), public, system_nodes("subnet-1"))
    assert fallback["items"][2]["description"] == "public IPv4 address per node"
    assert fallback["items"][2]["max"] == pytest.approx(2 * IPV4)
    assert (
        len(priced(node_pool(), ec2_node_class(), private, system_nodes("subnet-2"))["items"]) == 2
    )


@pytest.mark.parametrize(
    ("terms", "public"),
    [
        ([{"id": "subnet-1"}], True),
        ([{"id": "subnet-2"}], False),
        ([{"tags": {"karpenter.sh/discovery": "dev"}}], True),  # either subnet may be used
        ([{"tags": {"tier": "private"}}], False),
        ([{"tags": {"karpenter.sh/discovery": "*", "tier": "public"}}], True),
    ],
)
def test_the_node_class_subnet_selector_decides_when_it_matches_the_plan(
    terms: list[dict[str, Any]], public: bool
) -> None:
    subnets = [
        subnet("subnet-1", True, **{"karpenter.sh/discovery": "dev", "tier": "public"}),
        subnet("subnet-2", False, **{"karpenter.sh/discovery": "dev", "tier": "private"}),
    ]
    # The system nodes are public; an explicit selector overrides that guess.
    nodes = ec2_node_class(subnetSelectorTerms=terms)
    pool = priced(node_pool(), nodes, *subnets, system_nodes("subnet-1"))
    assert (pool["max"] > 2 * (1.20 * HOURS + DISK) + 1) == public


def test_an_explicit_public_address_setting_wins() -> None:
    nodes = ec2_node_class(associatePublicIPAddress=False)
    pool = priced(node_pool(), nodes, subnet("subnet-1", True), system_nodes("subnet-1"))
    assert pool["max"] == pytest.approx(2 * (1.20 * HOURS + DISK))


@pytest.mark.parametrize(
    ("spec", "disks", "gib_per_node"),
    [
        (
            {"blockDeviceMappings": [volume("4Gi"), volume("200Gi", "/dev/xvdb")]},
            "4 GiB gp3, 200 GiB gp3",
            204,
        ),
        # Karpenter's defaults without mappings: AL2023 a 20 GiB root, Bottlerocket 4 + 20 GiB.
        ({"blockDeviceMappings": None}, "20 GiB gp3", 20),
        (
            {"blockDeviceMappings": None, "amiSelectorTerms": [{"alias": "bottlerocket@v1.51.0"}]},
            "4 GiB gp3, 20 GiB gp3",
            24,
        ),
    ],
)
def test_each_node_pays_for_the_volumes_of_its_node_class(
    spec: dict[str, Any], disks: str, gib_per_node: float
) -> None:
    pool = priced(node_pool(), ec2_node_class(**spec))
    assert pool["items"][1]["description"] == f"{disks} per node (EC2NodeClass al2023-nvidia)"
    assert pool["items"][1]["max"] == pytest.approx(2 * gib_per_node * 0.10)


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ((node_pool(limits={}), ec2_node_class()), "no spec.limits on nvidia.com/gpu, cpu"),
        ((node_pool(node_class="other"), ec2_node_class()), "names EC2NodeClass 'other', not in"),
        ((node_pool(families=("m7i",)), ec2_node_class()), "allow no NVIDIA instance type"),
        (
            (node_pool(requirement("karpenter.sh/capacity-type", "NotIn", "spot", "on-demand",
                                   "reserved")), ec2_node_class()),
            "allow no capacity type",
        ),
    ],
)  # fmt: skip
def test_node_pools_without_a_max_or_a_node_class_are_errors(
    resources: tuple[dict[str, Any], ...], message: str
) -> None:
    with pytest.raises(CostError, match=message):
        priced(*resources)


def test_a_node_pool_must_name_its_instance_families() -> None:
    pool = node_pool()
    requirements = pool["inputs"]["spec"]["template"]["spec"]["requirements"]
    requirements[:] = [r for r in requirements if not r["key"].endswith("instance-family")]
    with pytest.raises(CostError, match=r"instance-family \(or node\.kubernetes\.io/instance-type"):
        priced(pool, ec2_node_class())


def karpenter_setup() -> list[dict[str, Any]]:
    """What the Karpenter setup adds besides its NodePools, and a second image registry."""
    return [
        aws("aws:sqs/queue:Queue", "karpenter-interruptions", {"sqsManagedSseEnabled": True}),
        aws("aws:sqs/queuePolicy:QueuePolicy", "karpenter-interruptions", {}),
        aws("aws:cloudwatch/eventRule:EventRule", "karpenter-spot-interruption", {}),
        aws("aws:cloudwatch/eventTarget:EventTarget", "karpenter-spot-interruption", {}),
        aws("aws:iam/instanceProfile:InstanceProfile", "karpenter-nodes", {}),
        aws("aws:eks/accessEntry:AccessEntry", "karpenter-nodes", {}),
        aws("aws:ecr/repository:Repository", "models", {}),
        aws("aws:ecr/repository:Repository", "runner-images", {}),
        kubernetes_object("kubernetes:core/v1:Secret", "runner-app", {}),
        kubernetes_object("kubernetes:helm.sh/v3:Release", "karpenter", {}),
    ]


def test_the_interruption_queue_is_a_zero_line_that_says_why() -> None:
    result = report(plan(*karpenter_setup()), prices())
    (queue,) = [r for r in result["by_resource"] if r["type"] == "aws:sqs/queue:Queue"]
    (line,) = queue["items"]
    assert (line["idle"], line["typical"], line["max"]) == (0, 0, 0)
    assert line["usage_based"] and "free first 1M a month" in line["description"]


def test_a_second_registry_is_priced_like_the_first() -> None:
    result = report(plan(*karpenter_setup()), prices())
    registries = [r for r in result["by_resource"] if r["type"] == "aws:ecr/repository:Repository"]
    assert [r["typical"] for r in registries] == [pytest.approx(5 * 0.10)] * 2


def test_the_setups_free_types_are_declared_free() -> None:
    result = report(plan(*karpenter_setup(), node_pool(), ec2_node_class()), prices())
    assert result["not_modelled"] == []
    assert {
        "aws:sqs/queuePolicy:QueuePolicy",
        "aws:cloudwatch/eventRule:EventRule",
        "aws:cloudwatch/eventTarget:EventTarget",
        "aws:iam/instanceProfile:InstanceProfile",
        "aws:eks/accessEntry:AccessEntry",
        "kubernetes:core/v1:Secret",
        CLASS_TYPE,
    } <= set(result["not_priced"])


def test_a_type_neither_priced_nor_free_is_reported_as_not_modelled() -> None:
    database = aws("aws:rds/instance:Instance", "db", {"instanceClass": "db.m7g.large"})
    component = {"urn": "urn:pulumi:dev::p::mlops:db:Database::db", "type": "mlops:db:Database",
                 "name": "db", "inputs": {}}  # fmt: skip
    result = report(plan(database, component), prices())
    assert result["not_modelled"] == ["aws:rds/instance:Instance"]
    assert "Not modelled, counted as $0: aws:rds/instance:Instance" in render_text(result)
    assert "Not modelled, counted as $0: `aws:rds/instance:Instance`." in render_markdown(result)
    assert "Not modelled" not in render_text(report(plan(node_pool(), ec2_node_class()), prices()))


@pytest.mark.parametrize(("kind", "monthly"), [("LoadBalancer", 0.02 * HOURS), ("ClusterIP", 0)])
def test_only_load_balancer_services_cost_their_balancer(kind: str, monthly: float) -> None:
    service = kubernetes_object("kubernetes:core/v1:Service", "model", {"type": kind})
    assert estimate(plan(service), prices()).cost.typical == pytest.approx(monthly)
