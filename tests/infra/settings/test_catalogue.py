"""The catalogue: the GPU instance table and the one list of AWS regions."""

from __future__ import annotations

from infra.settings import catalogue, gpu_count, is_gpu_ami_type, is_gpu_instance_type
from ml.core import aws_regions
from ml.forking import values as forking_values


def test_gpu_table() -> None:
    assert gpu_count("g5.xlarge") == 1
    assert gpu_count("g5.12xlarge") == 4
    assert gpu_count("p4d.24xlarge") == 8
    assert gpu_count("g4ad.xlarge") is None  # AMD
    assert gpu_count("m5.large") is None
    # Any size of a known NVIDIA family is a GPU type, even one the count table lacks.
    assert is_gpu_instance_type("g5.xlarge") and is_gpu_instance_type("p5.96xlarge")
    assert not is_gpu_instance_type("g4ad.xlarge") and not is_gpu_instance_type("m5.large")
    assert is_gpu_ami_type("AL2023_x86_64_NVIDIA") and is_gpu_ami_type("AL2_x86_64_GPU")
    assert not is_gpu_ami_type("AL2023_ARM_64_STANDARD")


def test_init_and_the_settings_check_one_region_list() -> None:
    # `make init` offers exactly the regions a stack file may name: the same tuple, not a copy.
    assert catalogue.AWS_REGIONS is forking_values.AWS_REGIONS is aws_regions.AWS_REGIONS


def test_gpu_shapes_agree_with_the_gpu_counts() -> None:
    for family, sizes in catalogue.GPU_INSTANCE_SHAPES.items():
        for size, shape in sizes.items():
            assert gpu_count(f"{family}.{size}") == shape.gpus
            # Every NVIDIA instance here has at least 4 vCPUs and 3.5 GiB or more per vCPU.
            assert shape.vcpus >= 4 and shape.memory_gib >= 7 * shape.vcpus // 2
    assert catalogue.gpu_shape("g6e.xlarge") == catalogue.GpuShape(1, 4, 32)
    assert catalogue.gpu_shape("m5.large") is None
