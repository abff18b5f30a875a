"""`train.model.device`: auto resolved by what this process can see, and the device recorded.

What is visible is controlled the way a machine controls it: an `nvidia-smi` on PATH (a script
here, printing what the real one prints) and CUDA_VISIBLE_DEVICES.
"""

from __future__ import annotations

import os
import stat
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from xgboost import XGBClassifier

from ml.core.params import TrainParams
from ml.pipeline.device import (
    DeviceError,
    booster_device,
    gpu_visible,
    resolve_device,
    trained_on,
    xgboost_has_cuda,
)
from ml.pipeline.train import train

Tables = tuple[pd.DataFrame, pd.DataFrame]
A10G = "GPU 0: NVIDIA A10G (UUID: GPU-5c1b2c6e-8a1d-4f7e-9f0a-3d2b1c0e9f8a)\n"
NO_DRIVER = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running.\n"
)
# Collected on this machine's real PATH: the tests below that train need a machine without a GPU.
REAL_GPU = gpu_visible()


def fake_smi(bin_dir: Path, output: str, status: int = 0) -> Path:
    """An `nvidia-smi` that records its arguments and prints `output`; returns the record."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    calls = bin_dir / "calls"
    script = bin_dir / "nvidia-smi"
    # Python by its absolute path: PATH holds nothing else, not even `cat`.
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"with open({str(calls)!r}, 'a') as calls:\n"
        "    calls.write(' '.join(sys.argv[1:]) + '\\n')\n"
        f"sys.stdout.write({output!r})\n"
        f"sys.exit({status})\n",
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return calls


@pytest.fixture
def path_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH holds one empty folder, and no CUDA_VISIBLE_DEVICES: the test puts in what it needs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return bin_dir


def test_without_nvidia_smi_auto_is_the_cpu(path_only: Path) -> None:
    assert not gpu_visible()
    assert resolve_device("auto") == "cpu"


def test_the_pypi_wheel_of_xgboost_is_built_with_cuda() -> None:
    if os.uname().sysname != "Linux" or os.uname().machine != "x86_64":
        pytest.skip("xgboost's CUDA wheels are for Linux x86_64")
    assert xgboost_has_cuda()


@pytest.mark.skipif(not xgboost_has_cuda(), reason="this xgboost has no CUDA")
def test_a_listed_gpu_makes_auto_cuda(path_only: Path) -> None:
    calls = fake_smi(path_only, A10G)

    assert gpu_visible()
    assert resolve_device("auto") == "cuda"
    assert calls.read_text().split() == ["-L", "-L"]


@pytest.mark.parametrize("visible", ["", "-1", " -1,0", "-1,GPU-5c1b2c6e"])
def test_cuda_visible_devices_can_hide_every_gpu(
    path_only: Path, monkeypatch: pytest.MonkeyPatch, visible: str
) -> None:
    fake_smi(path_only, A10G)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)

    assert not gpu_visible()
    assert resolve_device("auto") == "cpu"


@pytest.mark.parametrize("visible", ["0", "GPU-5c1b2c6e-8a1d-4f7e-9f0a-3d2b1c0e9f8a"])
def test_cuda_visible_devices_naming_a_gpu_leaves_it_visible(
    path_only: Path, monkeypatch: pytest.MonkeyPatch, visible: str
) -> None:
    fake_smi(path_only, A10G)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)

    assert gpu_visible()


@pytest.mark.parametrize(
    ("output", "status"),
    [(NO_DRIVER, 9), ("No devices were found\n", 6), ("", 0)],
    ids=["no-driver", "no-devices", "empty-listing"],
)
def test_nvidia_smi_without_a_gpu_is_the_cpu(path_only: Path, output: str, status: int) -> None:
    fake_smi(path_only, output, status)

    assert not gpu_visible()
    assert resolve_device("auto") == "cpu"


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_an_explicit_device_is_kept_without_looking(path_only: Path, device: str) -> None:
    calls = fake_smi(path_only, A10G if device == "cpu" else "")

    assert resolve_device(device) == device  # type: ignore[arg-type]
    assert not calls.exists()


def _xgboost(device: str) -> TrainParams:
    model = {"type": "xgboost", "n_estimators": 5, "max_depth": 2, "learning_rate": 0.3}
    return TrainParams.model_validate({"seed": 1, "model": {**model, "device": device}})


def test_a_model_trained_on_the_cpu_records_the_cpu(path_only: Path, split_tables: Tables) -> None:
    model = train(split_tables[0], _xgboost("auto"))

    assert isinstance(model, XGBClassifier)
    assert booster_device(model) == "cpu"
    assert model.get_params()["device"] == "cpu"
    assert trained_on(model) == "cpu"


@pytest.mark.skipif(REAL_GPU or not xgboost_has_cuda(), reason="needs CUDA and no real GPU")
@pytest.mark.filterwarnings("ignore:.*Device is changed from GPU to CPU:UserWarning")
def test_auto_goes_to_xgboost_s_cuda_path_and_records_where_it_really_ran(
    path_only: Path, split_tables: Tables
) -> None:
    """A listed GPU CUDA cannot use (the fake one): xgboost falls back to the CPU, and says so;
    the model records the CPU, not the device it was asked for."""
    fake_smi(path_only, A10G)

    with pytest.warns(UserWarning, match="No visible GPU is found"):
        model = train(split_tables[0], _xgboost("auto"))

    assert model.get_params()["device"] == "cpu"
    assert trained_on(model) == "cpu"


@pytest.mark.skipif(REAL_GPU, reason="a real GPU would train the model")
def test_an_explicit_cuda_without_a_gpu_fails_naming_the_key(
    path_only: Path, split_tables: Tables
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # xgboost's own "no visible GPU"
        with pytest.raises(DeviceError, match=r"train\.model\.device is cuda, but xgboost"):
            train(split_tables[0], _xgboost("cuda"))


def test_trained_on_reads_the_xgboost_device_and_is_the_cpu_for_the_rest() -> None:
    assert trained_on(XGBClassifier(device="cuda")) == "cuda"
    assert trained_on(XGBClassifier(device="cpu")) == "cpu"
    assert trained_on(RandomForestClassifier()) == "cpu"
