"""`make image`: the bento's container image, built and pushed to the stack's ECR repository.

    python -m ml.release.image [--bento NAME:VERSION] [--repository ECR_URL] [--tag GIT_SHA]

Runs `bentoml containerize <bento> -t <ecr-url>:<git sha>` (Docker), logs Docker in to ECR with a
token from `ecr:GetAuthorizationToken` (the password goes through stdin, never argv), pushes,
and prints the pushed image's digest, which the rollout record keeps. The repository URL comes from
--repository or ECR_REPOSITORY_URL (`pulumi stack output ecrRepositoryUrl`). An image already in
the repository under that tag is left alone, so reruns are safe with immutable tags.
In GitHub Actions the image and digest are also step outputs (`image`, `digest`, `pinned`).
"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ml.core.artifacts import ShipError, bento_tag, write_summary
from ml.core.cli import emit
from ml.core.paths import REPO_ROOT

REPOSITORY_ENV = "ECR_REPOSITORY_URL"
OUTPUT_ENV = "GITHUB_OUTPUT"
# EKS nodes here are x86_64 unless a stack picks Graviton; PLATFORM=linux/arm64 then.
DEFAULT_PLATFORM = "linux/amd64"

Runner = Callable[..., subprocess.CompletedProcess]


@dataclass(frozen=True)
class Repository:
    """An ECR repository URL, `<account>.dkr.ecr.<region>.amazonaws.com/<name>`."""

    url: str

    @property
    def host(self) -> str:
        return self.url.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.url.split("/", 1)[1]

    @property
    def region(self) -> str | None:
        parts = self.host.split(".")
        return parts[3] if len(parts) > 4 and parts[1:3] == ["dkr", "ecr"] else None

    def ref(self, tag: str) -> str:
        return f"{self.url}:{tag}"

    @classmethod
    def parse(cls, url: str) -> Repository:
        url = url.strip().removeprefix("https://").rstrip("/")
        host, sep, name = url.partition("/")
        if not (host and sep and name) or ":" in name or "@" in name:
            raise ShipError(f"{url!r} is not a repository URL like <host>/<name> (no tag)")
        return cls(url)


def containerize_command(bento: str, image: str, platform: str = DEFAULT_PLATFORM) -> list[str]:
    return ["bentoml", "containerize", bento, "-t", image, "--opt", f"platform={platform}"]


def login_command(host: str, username: str) -> list[str]:
    return ["docker", "login", "--username", username, "--password-stdin", host]


def push_command(image: str) -> list[str]:
    return ["docker", "push", image]


def ecr_client(repository: Repository) -> Any:
    # The repository's own region, whatever the default region of the session is.
    return boto3.client("ecr", region_name=repository.region)


def ecr_credentials(ecr: Any) -> tuple[str, str]:
    """Docker's username and password for ECR, from a 12-hour authorization token."""
    data = ecr.get_authorization_token()["authorizationData"][0]
    username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    return username, password


def pushed_digest(ecr: Any, repository: Repository, tag: str) -> str | None:
    """The digest of the image under `tag`, or None when the repository has no such tag."""
    try:
        images = ecr.describe_images(repositoryName=repository.name, imageIds=[{"imageTag": tag}])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ImageNotFoundException":
            return None
        raise
    details = images.get("imageDetails", [])
    return details[0]["imageDigest"] if details else None


def git_sha(root: Path = REPO_ROOT) -> str:
    """The commit being shipped: GitHub's GITHUB_SHA in CI, else the checkout's HEAD."""
    sha = (
        os.environ.get("GITHUB_SHA")
        or subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    return sha


@dataclass(frozen=True)
class PushedImage:
    image: str
    digest: str
    built: bool

    @property
    def pinned(self) -> str:
        """The image by digest: what the cluster should run, immune to a moved tag."""
        return f"{self.image.rsplit(':', 1)[0]}@{self.digest}"


def ship_image(
    bento: str,
    repository: Repository,
    tag: str,
    *,
    platform: str = DEFAULT_PLATFORM,
    ecr: Any = None,
    run: Runner = subprocess.run,
) -> PushedImage:
    """Build the bento's image and push it, unless the repository already has this tag."""
    ecr = ecr or ecr_client(repository)
    image = repository.ref(tag)
    existing = pushed_digest(ecr, repository, tag)
    if existing:
        return PushedImage(image, existing, built=False)
    run(containerize_command(bento, image, platform), check=True)
    username, password = ecr_credentials(ecr)
    run(login_command(repository.host, username), input=password, text=True, check=True)
    run(push_command(image), check=True)
    digest = pushed_digest(ecr, repository, tag)
    if not digest:
        raise ShipError(f"pushed {image} but ECR does not list it")
    return PushedImage(image, digest, built=True)


def _write_outputs(pushed: PushedImage) -> None:
    target = os.environ.get(OUTPUT_ENV)
    if target:
        with Path(target).open("a", encoding="utf-8") as outputs:
            outputs.write(f"image={pushed.image}\ndigest={pushed.digest}\npinned={pushed.pinned}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bento", help="NAME:VERSION (default: reports/bento.json)")
    parser.add_argument("--repository", help=f"ECR repository URL (default: ${REPOSITORY_ENV})")
    parser.add_argument("--tag", help="image tag (default: the git commit)")
    parser.add_argument("--platform", default=DEFAULT_PLATFORM)
    options = parser.parse_args(argv)
    try:
        url = options.repository or os.environ.get(REPOSITORY_ENV, "")
        if not url:
            raise ShipError(
                f"no ECR repository: pass --repository or set {REPOSITORY_ENV} "
                "(`pulumi stack output ecrRepositoryUrl` names the stack's)"
            )
        repository = Repository.parse(url)
        pushed = ship_image(
            bento_tag(options.bento),
            repository,
            options.tag or git_sha(),
            platform=options.platform,
        )
    except (ShipError, ClientError, BotoCoreError) as error:
        print(f"image: {error}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as error:
        print(f"image: `{' '.join(error.cmd)}` failed ({error.returncode})", file=sys.stderr)
        return 1
    state = "built and pushed" if pushed.built else "already in the repository"
    emit(f"image={pushed.image}\ndigest={pushed.digest}")
    _write_outputs(pushed)
    write_summary(f"### Image {state}\n\n`{pushed.pinned}`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
