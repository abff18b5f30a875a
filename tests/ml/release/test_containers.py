"""Which container tool builds and starts images, and the command lines they get."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ml.core.artifacts import ShipError
from ml.release import containers
from ml.release.containers import (
    build_command,
    choose_builder,
    image_runner,
    run_command,
    runtime_options,
)


def installed(*tools: str) -> containers.Which:
    return lambda tool: f"/usr/bin/{tool}" if tool in tools else None


def answering(code: int) -> containers.Runner:
    """Runs `python -c 'exit(code)'` for real in place of `docker info`."""

    def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
        assert cmd == ["docker", "info"]
        return subprocess.run([sys.executable, "-c", f"raise SystemExit({code})"], **kwargs)

    return run


@pytest.mark.parametrize(
    ("tools", "docker_code", "expected"),
    [
        (("docker", "buildah", "podman"), 0, "docker"),
        (("docker", "buildah", "podman"), 1, "buildah"),
        (("docker", "podman"), 1, "podman"),
        (("buildah",), 0, "buildah"),
    ],
)
def test_docker_only_when_its_daemon_answers(
    tools: tuple[str, ...], docker_code: int, expected: str
) -> None:
    assert choose_builder(None, installed(*tools), answering(docker_code)) == expected


def test_no_builder_says_what_to_install() -> None:
    with pytest.raises(ShipError, match="install buildah and podman"):
        choose_builder(None, installed("docker"), answering(1))


def test_image_builder_picks_one_and_must_be_installed() -> None:
    assert choose_builder("podman", installed("podman", "docker"), answering(0)) == "podman"
    with pytest.raises(ShipError, match="IMAGE_BUILDER=kaniko: pick one of docker, buildah"):
        choose_builder("kaniko", installed("kaniko"), answering(0))
    with pytest.raises(ShipError, match="IMAGE_BUILDER=buildah, but buildah is not installed"):
        choose_builder("buildah", installed("docker"), answering(0))


def test_images_start_with_docker_or_else_podman() -> None:
    assert image_runner("docker", installed()) == "docker"
    assert image_runner("buildah", installed("podman")) == "podman"
    with pytest.raises(ShipError, match="starting it needs podman"):
        image_runner("buildah", installed("buildah"))


def test_build_command(tmp_path: Path) -> None:
    labels = {"org.opencontainers.image.revision": "abc", "a.title": "x"}
    command = build_command(
        "buildah",
        tmp_path,
        "localhost/m:1",
        platform="linux/amd64",
        base_image="b:1",
        labels=labels,
    )
    assert command == [
        "buildah",
        "build",
        "--platform",
        "linux/amd64",
        "-f",
        str(tmp_path / "Dockerfile"),
        "--isolation",
        "chroot",
        "--build-arg",
        "BASE_IMAGE=b:1",
        "-t",
        "localhost/m:1",
        "--label",
        "a.title=x",
        "--label",
        "org.opencontainers.image.revision=abc",
        str(tmp_path),
    ]
    docker = build_command(
        "docker", tmp_path, "m:1", platform="linux/arm64", base_image="b:1", labels={}
    )
    assert "--isolation" not in docker
    assert docker[:4] == ["docker", "build", "--platform", "linux/arm64"]


def test_podman_takes_runc_on_hybrid_cgroups(tmp_path: Path) -> None:
    # "/" is a mount point on every machine, a fresh folder never is.
    assert runtime_options("podman", Path("/"), installed("runc")) == ["--runtime", "runc"]
    assert runtime_options("podman", tmp_path, installed("runc")) == []
    assert runtime_options("docker", Path("/"), installed("runc")) == []
    with pytest.raises(ShipError, match=r"install runc \(apt-get install runc\)"):
        runtime_options("podman", Path("/"), installed())


def test_run_command_binds_loopback_and_mounts_read_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(containers, "HYBRID_CGROUPS", tmp_path)
    command = run_command(
        "podman",
        "localhost/m:1",
        ["-c", "print(1)"],
        entrypoint="python",
        volumes={tmp_path: "/work"},
        ports={41234: 3000},
        name="probe",
        detach=True,
        read_only=True,
        tmpfs=["/tmp"],
    )
    assert command == [
        "podman",
        "run",
        "--rm",
        "--ulimit",
        "nofile=4096:4096",
        "--ulimit",
        "nproc=2048:2048",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--detach",
        "--name",
        "probe",
        "--entrypoint",
        "python",
        "--volume",
        f"{tmp_path}:/work:ro",
        "--publish",
        "127.0.0.1:41234:3000",
        "localhost/m:1",
        "-c",
        "print(1)",
    ]


def test_registry_command_lines() -> None:
    assert containers.login_command("buildah", "host", "AWS") == [
        "buildah",
        "login",
        "--username",
        "AWS",
        "--password-stdin",
        "host",
    ]
    assert containers.push_command("podman", "host/r:t") == ["podman", "push", "host/r:t"]
    assert containers.exists_command("docker", "m:1") == ["docker", "image", "inspect", "m:1"]
    assert containers.exists_command("buildah", "m:1") == [
        "buildah",
        "inspect",
        "--type",
        "image",
        "m:1",
    ]
    assert containers.size_command("buildah", "m:1")[:3] == ["podman", "image", "inspect"]
