"""The image's build context: its wheels (a real `pip download`), its Dockerfile, its base and
its labels. The whole build runs in tests/e2e/test_image.py."""

from __future__ import annotations

import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ml.core.artifacts import ShipError
from ml.release import image_build
from ml.release.image_build import (
    bento_envs,
    choose_base,
    image_labels,
    platform_tags,
    readable_by_all,
    render_dockerfile,
    wheel_command,
)


@dataclass
class Env:
    name: str
    value: str | None


def test_platform_tags_follow_the_base_glibc() -> None:
    tags = platform_tags("linux/amd64")
    assert tags[0] == "manylinux_2_5_x86_64"
    assert tags[-1] == f"manylinux_2_{image_build.GLIBC_MINOR}_x86_64"
    assert platform_tags("linux/arm64")[-1].endswith("_aarch64")
    with pytest.raises(ShipError, match="platform linux/s390x: pick one of linux/amd64"):
        platform_tags("linux/s390x")


def test_pip_downloads_the_pinned_wheel_for_the_image_platform(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("markupsafe\n", encoding="utf-8")
    wheels = tmp_path / "wheels"
    command = wheel_command(requirements, image_build.CONSTRAINTS, wheels, "linux/arm64", "3.11")
    subprocess.run(command, check=True, capture_output=True)
    pinned = next(
        line.split("==")[1]
        for line in image_build.CONSTRAINTS.read_text(encoding="utf-8").splitlines()
        if line.lower().startswith("markupsafe==")
    )
    [wheel] = [path.name for path in wheels.iterdir()]
    # The image's Python and machine, whatever runs the download.
    assert wheel.startswith(f"markupsafe-{pinned}-cp311-cp311-")
    assert "aarch64" in wheel


def test_dockerfile_two_stages_non_root_no_build_tools() -> None:
    text = render_dockerfile("localhost/base:1", "3.11", [("MODEL_STAGE", "prod")])
    assert text.startswith("# The bento's runtime image")
    assert "ARG BASE_IMAGE=localhost/base:1" in text
    assert text.count("FROM ${BASE_IMAGE}") == 2
    assert "python3.11 -m venv /app/.venv" in text
    assert "--no-index --find-links /tmp/wheels" in text
    assert "ENV MODEL_STAGE=prod\n" in text
    assert "USER 1034:1034\n" in text
    assert "EXPOSE 3000\n" in text
    assert "COPY --from=build /app/.venv /app/.venv" in text
    instructions = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    for absent in ("build-essential", "apt-get", "git", "uv ", "curl"):
        assert absent not in instructions
    assert 'ENTRYPOINT ["/home/bentoml/bento/env/docker/entrypoint.sh"]' in text


def test_bento_envs_go_into_env_lines_only_when_safe() -> None:
    assert bento_envs([Env("A", "1"), Env("B", None)]) == [("A", "1"), ("B", "")]
    with pytest.raises(ShipError, match=r"the bento's env A=.*cannot go into an ENV line"):
        bento_envs([Env("A", "two words")])
    with pytest.raises(ShipError, match="the bento's env 1A="):
        bento_envs([Env("1A", "x")])


def test_the_bento_becomes_readable_by_the_server_user(tmp_path: Path) -> None:
    models = tmp_path / "models" / "m"
    models.mkdir(parents=True)
    (models / "model.pkl").write_bytes(b"x")
    (tmp_path / "run.sh").write_text("#!/bin/sh\n", encoding="utf-8")
    for path, mode in (
        (models, 0o700),
        (models / "model.pkl", 0o600),
        (tmp_path / "run.sh", 0o700),
    ):
        path.chmod(mode)
    readable_by_all(tmp_path)
    modes = {
        path.relative_to(tmp_path).as_posix(): stat.S_IMODE(path.stat().st_mode)
        for path in (models, models / "model.pkl", tmp_path / "run.sh")
    }
    assert modes == {"models/m": 0o755, "models/m/model.pkl": 0o644, "run.sh": 0o755}


class Store:
    """Answers `pull` and `inspect` as a store that can or cannot pull and has or lacks the base."""

    def __init__(self, pulls: bool, has_local: bool) -> None:
        self.answers = {"pull": pulls, "inspect": has_local}
        self.calls: list[list[str]] = []

    def __call__(self, cmd: list[str], **_: Any) -> subprocess.CompletedProcess:
        self.calls.append(cmd)
        ok = self.answers[cmd[1]]
        return subprocess.CompletedProcess(cmd, 0 if ok else 125, "", "" if ok else "no such host")


def test_base_upstream_when_pullable_else_the_local_one() -> None:
    assert choose_base("my/base:1", "buildah", "3.11", "linux/amd64", Store(False, False)) == (
        "my/base:1"
    )
    upstream = image_build.upstream_base("3.11")
    assert upstream == "docker.io/library/python:3.11-slim-bookworm"
    assert choose_base(None, "buildah", "3.11", "linux/amd64", Store(True, False)) == upstream
    local = Store(False, True)
    assert choose_base(None, "buildah", "3.11", "linux/amd64", local) == (
        "localhost/mlops-base:bookworm-py3.11"
    )
    assert local.calls[0] == ["buildah", "pull", "--platform", "linux/amd64", upstream]


def test_no_base_at_all_says_how_to_make_one() -> None:
    with pytest.raises(ShipError, match=r"no such host.*python -m ml.release.base_image"):
        choose_base(None, "podman", "3.11", "linux/amd64", Store(False, False))


def test_labels_name_the_bento_commit_and_repository() -> None:
    labels = image_labels("clf:abc123", "f" * 40, "acme/mlops", "b:1")
    assert labels["org.opencontainers.image.title"] == "clf"
    assert labels["org.opencontainers.image.version"] == "abc123"
    assert labels["org.opencontainers.image.revision"] == "f" * 40
    assert labels["org.opencontainers.image.source"] == "https://github.com/acme/mlops"
    assert labels["org.opencontainers.image.base.name"] == "b:1"
    assert labels["org.opencontainers.image.description"] == "BentoML bento clf:abc123"
