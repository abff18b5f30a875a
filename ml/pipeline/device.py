"""Where the model trains: `train.model.device` resolved, and the device a model really used.

`auto` is CUDA when the installed xgboost was built with it and this machine shows a GPU, else the
CPU, so one params.yaml trains on a laptop and on a GPU runner. Training on the GPU is xgboost's
own code path (`XGBClassifier(device="cuda")`); this module only picks the argument and reads
back what xgboost did with it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from xgboost import XGBModel

Device = Literal["cpu", "cuda"]
Requested = Literal["auto", "cpu", "cuda"]
SMI_TIMEOUT_S = 10


class DeviceError(RuntimeError):
    """The device params.yaml asks for is not the one xgboost could train on."""


def gpu_hidden() -> bool:
    """Whether CUDA_VISIBLE_DEVICES hides every GPU from this process.

    CUDA reads the list up to its first invalid entry: an empty value or a negative index (the
    usual "-1") leaves no device. nvidia-smi ignores the variable, so it is read here.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return False
    first = visible.split(",")[0].strip()
    return first == "" or first.startswith("-")


def gpu_visible() -> bool:
    """Whether this process may use a GPU: `nvidia-smi -L` lists one and none is hidden."""
    if gpu_hidden():
        return False
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        listing = subprocess.run(
            [smi, "-L"], capture_output=True, text=True, timeout=SMI_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    lines = listing.stdout.splitlines()
    return listing.returncode == 0 and any(line.startswith("GPU ") for line in lines)


def xgboost_has_cuda() -> bool:
    import xgboost

    return bool(xgboost.build_info().get("USE_CUDA"))


def resolve_device(requested: Requested) -> Device:
    """The device to pass to XGBClassifier: `auto` becomes cuda or cpu, the others stay."""
    if requested != "auto":
        return requested
    return "cuda" if xgboost_has_cuda() and gpu_visible() else "cpu"


def booster_device(model: XGBModel) -> Device:
    """The device xgboost trained a fitted model on, from its booster's own configuration.

    xgboost falls back to the CPU, with a warning, when it finds no GPU it can use; the
    configuration then says `cpu` whatever the model was asked for (`cuda:0` on a GPU).
    """
    config = json.loads(model.get_booster().save_config())
    device = str(config["learner"]["generic_param"]["device"]).partition(":")[0]
    return "cuda" if device == "cuda" else "cpu"


def record_device(model: XGBModel, requested: Requested) -> Device:
    """Set the fitted model's `device` to the one it trained on, which the package stage labels.

    A model xgboost moved to the CPU is recorded as trained there under `auto`; an explicit
    `cuda` that ran on the CPU is an error, not a slow model labelled as a GPU one.
    """
    used = booster_device(model)
    if used != model.get_params()["device"]:
        if requested == "cuda":
            raise DeviceError(
                "train.model.device is cuda, but xgboost found no GPU it could use and trained "
                "on the CPU (`device: auto` picks the CPU when there is no GPU)"
            )
        model.set_params(device=used)
    return used


def trained_on(model: object) -> Device:
    """The device a saved model trained on: the one the train stage recorded on an xgboost
    model; every other estimator of ml/pipeline/train.py runs on the CPU."""
    # Loading an xgboost model imports xgboost: when it is not imported, the model is not one.
    xgboost = sys.modules.get("xgboost")
    if xgboost is not None and isinstance(model, xgboost.XGBModel):
        return "cuda" if model.get_params()["device"] == "cuda" else "cpu"
    return "cpu"
