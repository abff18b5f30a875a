"""The container tools `make image` drives: which one builds, and their command lines.

docker builds when its daemon answers, else buildah (daemonless, no root needed), else podman;
IMAGE_BUILDER picks one. Images are started (for the SBOM, and by the image test) with docker
when it builds, else with podman, which shares buildah's image store.

buildah and podman run the Dockerfile's RUN steps with chroot isolation: those steps only
install local wheels, and chroot needs no OCI runtime, cgroups or rlimits, so the build also
works inside CI containers and VMs where crun cannot start a container.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ml.core.artifacts import ShipError

BUILDER_ENV = "IMAGE_BUILDER"
BUILDERS = ("docker", "buildah", "podman")

Runner = Callable[..., subprocess.CompletedProcess]
Which = Callable[[str], str | None]
# Where Debian puts runc, debootstrap and chroot: off the PATH of a user who is not root.
SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def find_tool(name: str) -> str | None:
    """The tool's path on PATH, else in the sbin folders."""
    return shutil.which(name) or shutil.which(name, path=os.pathsep.join(SBIN))


# crun, podman's default runtime, cannot start containers on hybrid cgroups (v1 controllers with
# v2 mounted here); runc can.
HYBRID_CGROUPS = Path("/sys/fs/cgroup/unified")
# Limits a local container starts with, below any host's own: podman otherwise asks for its
# maximum, which a host without CAP_SYS_RESOURCE (a container or VM sandbox) refuses.
LOCAL_ULIMITS = {"nofile": 4096, "nproc": 2048}


def docker_answers(run: Runner = subprocess.run) -> bool:
    """Whether docker's daemon answers (the CLI alone, without a daemon, cannot build)."""
    info = run(["docker", "info"], capture_output=True, text=True, check=False)
    return info.returncode == 0


def choose_builder(
    preferred: str | None = None, which: Which = shutil.which, run: Runner = subprocess.run
) -> str:
    """docker when its daemon answers, else buildah, else podman; `preferred` wins if given."""
    if preferred:
        if preferred not in BUILDERS:
            raise ShipError(f"{BUILDER_ENV}={preferred}: pick one of {', '.join(BUILDERS)}")
        if not which(preferred):
            raise ShipError(f"{BUILDER_ENV}={preferred}, but {preferred} is not installed")
        return preferred
    found = [tool for tool in BUILDERS if which(tool)]
    if "docker" in found and not docker_answers(run):
        found.remove("docker")
    if not found:
        raise ShipError(
            "no image builder: start docker's daemon, or install buildah and podman "
            "(Debian/Ubuntu: apt-get install buildah podman)"
        )
    return found[0]


def image_runner(builder: str, which: Which = shutil.which) -> str:
    """The tool that starts the images `builder` made: docker for docker's, podman for the rest
    (buildah and podman share one image store)."""
    if builder == "docker":
        return "docker"
    if not which("podman"):
        raise ShipError(f"{builder} built the image, but starting it needs podman: install it")
    return "podman"


def build_command(
    builder: str,
    context: Path,
    image: str,
    *,
    platform: str,
    base_image: str,
    labels: Mapping[str, str],
) -> list[str]:
    """`<builder> build` of context/Dockerfile; buildah's and podman's flags match docker's."""
    command = [builder, "build", "--platform", platform, "-f", str(context / "Dockerfile")]
    if builder != "docker":
        command += ["--isolation", "chroot"]
    command += ["--build-arg", f"BASE_IMAGE={base_image}", "-t", image]
    for key, value in sorted(labels.items()):
        command += ["--label", f"{key}={value}"]
    return [*command, str(context)]


def pull_command(tool: str, image: str, platform: str) -> list[str]:
    return [tool, "pull", "--platform", platform, image]


def exists_command(tool: str, image: str) -> list[str]:
    """Succeeds when the local store has `image`."""
    if tool == "docker":
        return ["docker", "image", "inspect", image]
    return [tool, "inspect", "--type", "image", image]


def login_command(tool: str, host: str, username: str) -> list[str]:
    return [tool, "login", "--username", username, "--password-stdin", host]


def push_command(tool: str, image: str) -> list[str]:
    return [tool, "push", image]


def size_command(tool: str, image: str) -> list[str]:
    """Prints the image's size in bytes (uncompressed, as the store holds it)."""
    if tool == "docker":
        return ["docker", "image", "inspect", "--format", "{{.Size}}", image]
    return ["podman", "image", "inspect", "--format", "{{.Size}}", image]


def runtime_options(tool: str, hybrid: Path | None = None, which: Which = find_tool) -> list[str]:
    """podman's global options to start a container here: runc on hybrid cgroups."""
    if tool != "podman" or not (hybrid or HYBRID_CGROUPS).is_mount():
        return []
    if not which("runc"):
        raise ShipError(
            "this machine mounts cgroups in hybrid mode, where podman's crun cannot start "
            "containers: install runc (apt-get install runc)"
        )
    return ["--runtime", "runc"]


def run_command(
    tool: str,
    image: str,
    args: list[str],
    *,
    entrypoint: str | None = None,
    volumes: Mapping[Path, str] | None = None,
    ports: Mapping[int, int] | None = None,
    name: str | None = None,
    detach: bool = False,
    read_only: bool = False,
    tmpfs: Sequence[str] = (),
    network: str | None = None,
) -> list[str]:
    """`<tool> run --rm` of the image; volumes are read-only, ports bound to 127.0.0.1 only.
    `read_only` with `tmpfs` folders starts it as the cluster's pods do (read-only root)."""
    command = [tool, *runtime_options(tool), "run", "--rm"]
    for limit, value in LOCAL_ULIMITS.items():
        command += ["--ulimit", f"{limit}={value}:{value}"]
    if network:
        command += ["--network", network]
    if read_only:
        command.append("--read-only")
    for folder in tmpfs:
        command += ["--tmpfs", folder]
    if detach:
        command.append("--detach")
    if name:
        command += ["--name", name]
    if entrypoint:
        command += ["--entrypoint", entrypoint]
    for source, target in (volumes or {}).items():
        command += ["--volume", f"{source}:{target}:ro"]
    for host, container in (ports or {}).items():
        command += ["--publish", f"127.0.0.1:{host}:{container}"]
    return [*command, image, *args]
