"""`make image`: the commands it runs and its ECR side, against moto's ECR.

Docker cannot run here, so the build and push commands are recorded instead of run; the push
puts an image manifest into moto's ECR, so the digest lookup is the real API call.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from ml.core.artifacts import ShipError
from ml.core.identity import load_identity
from ml.release import image
from ml.release.image import Repository, ship_image

PROJECT = load_identity().project

MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 7023,
            "digest": "sha256:" + "b" * 64,
        },
        "layers": [],
    }
)


@pytest.fixture
def repository(aws_env: str) -> Repository:
    ecr = boto3.client("ecr")
    name = f"{PROJECT}-dev/bentos-{uuid.uuid4().hex[:6]}"
    url = ecr.create_repository(repositoryName=name)["repository"]["repositoryUri"]
    return Repository.parse(url)


class FakeDocker:
    """Records commands; `docker push` lands the manifest in (moto's) ECR as a push would."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository
        self.calls: list[tuple[list[str], dict[str, Any]]] = []

    def __call__(self, cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
        self.calls.append((cmd, kwargs))
        if cmd[:2] == ["docker", "push"]:
            tag = cmd[2].rsplit(":", 1)[1]
            boto3.client("ecr").put_image(
                repositoryName=self.repository.name, imageManifest=MANIFEST, imageTag=tag
            )
        return subprocess.CompletedProcess(cmd, 0)


def test_commands() -> None:
    assert image.containerize_command("echo:v1", "host/repo:abc") == [
        "bentoml",
        "containerize",
        "echo:v1",
        "-t",
        "host/repo:abc",
        "--opt",
        "platform=linux/amd64",
    ]
    assert image.login_command("host", "AWS") == [
        "docker",
        "login",
        "--username",
        "AWS",
        "--password-stdin",
        "host",
    ]
    assert image.push_command("host/repo:abc") == ["docker", "push", "host/repo:abc"]


def test_repository_url_parts() -> None:
    repo = Repository.parse(f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/{PROJECT}-dev/bentos")
    assert repo.host == "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    assert repo.name == f"{PROJECT}-dev/bentos"
    assert repo.region == "eu-west-1"
    assert repo.ref("3f2a9c1") == f"{repo.url}:3f2a9c1"


@pytest.mark.parametrize("url", ["", "just-a-host", "host/repo:tag", "host/repo@sha256:abc"])
def test_a_url_with_a_tag_or_without_a_name_is_refused(url: str) -> None:
    with pytest.raises(ShipError, match="not a repository URL"):
        Repository.parse(url)


def test_build_login_push_then_the_digest_from_ecr(repository: Repository) -> None:
    docker = FakeDocker(repository)
    pushed = ship_image("echo:v1", repository, "3f2a9c1", run=docker)

    commands = [cmd for cmd, _ in docker.calls]
    assert commands == [
        image.containerize_command("echo:v1", repository.ref("3f2a9c1")),
        image.login_command(repository.host, "AWS"),
        image.push_command(repository.ref("3f2a9c1")),
    ]
    # The ECR password travels on stdin only.
    username, password = image.ecr_credentials(boto3.client("ecr"))
    assert docker.calls[1][1]["input"] == password
    assert all(password not in " ".join(cmd) for cmd in commands)
    assert username == "AWS"

    described = boto3.client("ecr").describe_images(
        repositoryName=repository.name, imageIds=[{"imageTag": "3f2a9c1"}]
    )["imageDetails"][0]["imageDigest"]
    assert pushed.digest == described
    assert pushed.digest.startswith("sha256:")
    assert pushed.pinned == f"{repository.url}@{described}"
    assert pushed.built

    # A tag already pushed is not built again (immutable tags, reruns).
    again = FakeDocker(repository)
    assert ship_image("echo:v1", repository, "3f2a9c1", run=again).digest == described
    assert again.calls == []


def test_main_prints_and_exports_the_digest(
    repository: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = boto3.client("ecr").put_image(
        repositoryName=repository.name, imageManifest=MANIFEST, imageTag="c0ffee"
    )["image"]["imageId"]["imageDigest"]
    outputs = tmp_path / "outputs"
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.setenv("ECR_REPOSITORY_URL", repository.url)
    assert image.main(["--bento", "echo:v1", "--tag", "c0ffee"]) == 0
    assert outputs.read_text(encoding="utf-8").splitlines() == [
        f"image={repository.url}:c0ffee",
        f"digest={digest}",
        f"pinned={repository.url}@{digest}",
    ]


def test_main_without_a_repository_says_where_to_get_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ECR_REPOSITORY_URL", raising=False)
    assert image.main(["--bento", "echo:v1", "--tag", "abc"]) == 2
    assert "ECR_REPOSITORY_URL" in capsys.readouterr().err


def test_git_sha_prefers_github_sha(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_SHA", "a" * 40)
    assert image.git_sha() == "a" * 40
