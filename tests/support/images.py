"""What the tests that build and start real images share: the tools, and a base image to build on.

The base is the upstream Python image where it can be pulled (a CI runner with Docker Hub), else
the Debian base `python -m ml.release.base_image` makes with debootstrap from Debian packages,
made here when the store lacks it (about 40 s; debootstrap needs root). Under `pytest -n` a lock
makes the other workers wait for that one build instead of starting their own.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

import pytest
from filelock import FileLock

from ml.core.paths import REPO_ROOT
from ml.release.containers import exists_command, find_tool, pull_command
from ml.release.image_build import local_base, upstream_base

PYTHON_VERSION = "3.11"
LOCAL_BASE = local_base(PYTHON_VERSION)
TOOLS = ("buildah", "podman", "debootstrap")
# Beside the store it guards (podman's, one per machine user), not in one session's temp folder.
BASE_LOCK = Path(tempfile.gettempdir()) / f"{LOCAL_BASE.replace('/', '_').replace(':', '_')}.lock"


def require_tools() -> None:
    missing = [tool for tool in TOOLS if not find_tool(tool)]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: `make tools` installs them (apt)")


@cache
def base_image() -> str:
    """A base with Python 3.11 in podman's store: upstream if pullable, else the Debian one."""
    require_tools()
    upstream = upstream_base(PYTHON_VERSION)
    pulled = subprocess.run(pull_command("podman", upstream, "linux/amd64"), capture_output=True)
    if pulled.returncode == 0:
        return upstream
    with FileLock(BASE_LOCK):
        stored = subprocess.run(exists_command("podman", LOCAL_BASE), capture_output=True)
        if stored.returncode == 0:
            return LOCAL_BASE
        made = subprocess.run(
            [sys.executable, "-m", "ml.release.base_image", "--tag", LOCAL_BASE],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    if made.returncode != 0:
        pytest.fail(f"`make base-image` failed:\n{made.stderr}")
    return LOCAL_BASE
