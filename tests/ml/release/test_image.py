"""`make image`: its ECR side, against moto's ECR, and what it prints.

moto's ECR speaks the AWS API but not the registry protocol, so the build and the push are
recorded instead of run: the push puts an image manifest into moto's ECR, so the digest lookup
is the real API call. The real build runs in tests/e2e/test_image.py.
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
from ml.release.image_build import BuiltImage

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


class Registry:
    """Records the builds and the builder's commands; a push lands the manifest in (moto's) ECR
    as a real push would."""

    def __init__(self, repository: Repository, builder: str = "buildah") -> None:
        self.repository = repository
        self.builder = builder
        self.builds: list[str] = []
        self.calls: list[tuple[list[str], dict[str, Any]]] = []

    def build(self, image: str) -> BuiltImage:
        self.builds.append(image)
        return BuiltImage(image, self.builder, "localhost/base:1", 123, {"build": 1.0})

    def __call__(self, cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
        self.calls.append((cmd, kwargs))
        if cmd[1] == "push":
            tag = cmd[2].rsplit(":", 1)[1]
            boto3.client("ecr").put_image(
                repositoryName=self.repository.name, imageManifest=MANIFEST, imageTag=tag
            )
        return subprocess.CompletedProcess(cmd, 0)


def test_local_ref_is_the_bento_name_and_version_unless_tagged() -> None:
    assert image.local_ref("clf:55a2", None) == "localhost/clf:55a2"
    assert image.local_ref("clf:55a2", "e2e") == "localhost/clf:e2e"


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


@pytest.mark.parametrize("builder", ["buildah", "docker"])
def test_build_login_push_then_the_digest_from_ecr(repository: Repository, builder: str) -> None:
    registry = Registry(repository, builder)
    pushed = ship_image(repository, "3f2a9c1", build=registry.build, run=registry)

    assert registry.builds == [repository.ref("3f2a9c1")]
    commands = [cmd for cmd, _ in registry.calls]
    assert commands == [
        [builder, "login", "--username", "AWS", "--password-stdin", repository.host],
        [builder, "push", repository.ref("3f2a9c1")],
    ]
    # The ECR password travels on stdin only.
    username, password = image.ecr_credentials(boto3.client("ecr"))
    assert registry.calls[0][1]["input"] == password
    assert all(password not in " ".join(cmd) for cmd in commands)
    assert username == "AWS"

    described = boto3.client("ecr").describe_images(
        repositoryName=repository.name, imageIds=[{"imageTag": "3f2a9c1"}]
    )["imageDetails"][0]["imageDigest"]
    assert pushed.digest == described
    assert pushed.digest.startswith("sha256:")
    assert pushed.pinned == f"{repository.url}@{described}"
    assert pushed.built is not None and pushed.built.size == 123

    # A tag already pushed is not built again (immutable tags, reruns).
    again = Registry(repository, builder)
    rerun = ship_image(repository, "3f2a9c1", build=again.build, run=again)
    assert (rerun.digest, rerun.built) == (described, None)
    assert (again.builds, again.calls) == ([], [])


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
    # Neither the bento (absent here) nor a builder was needed.


def test_main_without_the_bento_says_how_to_rebuild_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ECR_REPOSITORY_URL", raising=False)
    assert image.main(["--bento", "nothing-here:v1"]) == 2
    err = capsys.readouterr().err
    assert "bento nothing-here:v1 is not in this machine's BentoML store" in err
    assert "dvc repro --force --single-item package" in err


def test_git_sha_prefers_github_sha(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_SHA", "a" * 40)
    assert image.git_sha() == "a" * 40
