"""GPU NodePool settings: what each pool may start, and what the stack files promise."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from infra.settings import GPU_TAINT, GpuNodePool, validate_settings
from tests.infra.settings.stacks import NS, STACKS, stack_config
from tests.support.pulumi_unit import PROJECT


def _pool(**overrides: Any) -> dict[str, Any]:
    pool = copy.deepcopy(stack_config("dev")[NS + "cluster"]["nodePools"][0])
    return {**pool, **overrides}


def test_a_pool_allows_every_offered_family_and_size() -> None:
    pool = GpuNodePool.model_validate(
        _pool(instanceFamilies=["g4dn", "p5"], instanceSizes=["xlarge", "4xlarge"])
    )
    # p5 has no xlarge: only the combinations AWS offers are allowed.
    assert sorted(pool.shapes) == ["g4dn.4xlarge", "g4dn.xlarge", "p5.4xlarge"]
    assert pool.smallest_node.vcpus == 4 and pool.smallest_node.memory_gib == 16
    assert pool.most_gpus_per_node == 1


def test_multi_gpu_sizes_count_their_gpus() -> None:
    pool = GpuNodePool.model_validate(
        _pool(
            instanceFamilies=["g5"],
            instanceSizes=["12xlarge"],
            limits={"gpus": 8, "cpu": 96, "memoryGib": 384},
        )
    )
    assert pool.most_gpus_per_node == 4


def test_limits_smaller_than_one_multi_gpu_node_are_refused() -> None:
    with pytest.raises(ValueError, match=r"not even one node .*gpus 2 < 4"):
        GpuNodePool.model_validate(
            _pool(
                instanceFamilies=["g5"],
                instanceSizes=["12xlarge"],
                limits={"gpus": 2, "cpu": 96, "memoryGib": 384},
            )
        )


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_has_inference_and_training_pools_behind_the_taint(stack: str) -> None:
    cluster = validate_settings(stack_config(stack), project=PROJECT).cluster
    assert cluster.pools_for("inference") and cluster.pools_for("training")
    for pool in cluster.node_pools:
        assert GPU_TAINT in [t.model_dump() for t in pool.taints]
        assert pool.limits.gpus >= 1
        # Spot first: a pool that may use both lists spot before on-demand.
        assert pool.capacity_types[0] == "spot" or pool.capacity_types == ["on-demand"]
    for pool in cluster.pools_for("training"):
        # Never evict a running training job to consolidate: only empty nodes go.
        assert pool.disruption.consolidation_policy == "WhenEmpty"
        assert pool.max_runners is not None and pool.max_runners <= pool.limits.gpus


def test_prod_falls_back_from_spot_to_on_demand_by_weight() -> None:
    cluster = validate_settings(stack_config("prod"), project=PROJECT).cluster
    inference = sorted(cluster.pools_for("inference"), key=lambda p: -p.weight)
    assert [p.capacity_types for p in inference] == [["spot"], ["on-demand"]]
