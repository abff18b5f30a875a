"""`make image`: the bento's container image, built locally and pushed to the stack's ECR.

    python -m ml.release.image [--bento NAME:VERSION] [--repository ECR_URL] [--tag TAG]
        [--platform linux/amd64]

Builds the image from the lean build context of ml/release/image_build.py (the bento, its
wheels at the pins of constraints.txt, a two-stage Dockerfile), with docker when its daemon
answers, else buildah, else podman (IMAGE_BUILDER picks one; BASE_IMAGE overrides the base).

Without a repository the image stays local, `localhost/<bento name>:<TAG or the bento's
version>`, and its ref and size are printed. With one (--repository or ECR_REPOSITORY_URL,
`pulumi stack output ecrRepositoryUrl`) it is `<url>:<TAG or the git commit>`: the builder logs
in to ECR with a token from `ecr:GetAuthorizationToken` (the password goes through stdin, never
argv), pushes, and prints the digest ECR lists, which the rollout record keeps. An image already
in the repository under that tag is left alone, so reruns are safe with immutable tags.
In GitHub Actions the image (and once pushed its digest) are step outputs (`image`, `size`,
`digest`, `pinned`).
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

from ml.core.artifacts import BUCKET_ENV, ShipError, bento_tag, sbom_key, split_tag, write_summary
from ml.core.cli import emit
from ml.core.paths import REPO_ROOT
from ml.release.containers import (
    BUILDER_ENV,
    choose_builder,
    image_runner,
    login_command,
    push_command,
)
from ml.release.image_build import BASE_IMAGE_ENV, BuiltImage, build_image
from ml.release.sbom import publish_sbom, sbom_for

REPOSITORY_ENV = "ECR_REPOSITORY_URL"
OUTPUT_ENV = "GITHUB_OUTPUT"
# Each built image's SBOM is also written here (build/ is ignored by git).
SBOM_DIR = REPO_ROOT / "build" / "sbom"
# EKS nodes here are x86_64 unless a stack picks Graviton; PLATFORM=linux/arm64 then.
DEFAULT_PLATFORM = "linux/amd64"

Runner = Callable[..., subprocess.CompletedProcess]
# Builds the image under the ref it is given.
Build = Callable[[str], BuiltImage]


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
    # The build this run made, None when the repository already had the tag.
    built: BuiltImage | None

    @property
    def pinned(self) -> str:
        """The image by digest: what the cluster should run, immune to a moved tag."""
        return f"{self.image.rsplit(':', 1)[0]}@{self.digest}"


def local_ref(bento: str, tag: str | None) -> str:
    """`localhost/<bento name>:<tag>`, the bento's version unless a tag is given."""
    name, _, version = bento.partition(":")
    return f"localhost/{name}:{tag or version}"


def ship_image(
    repository: Repository,
    tag: str,
    *,
    build: Build,
    ecr: Any = None,
    run: Runner = subprocess.run,
) -> PushedImage:
    """Build the bento's image and push it, unless the repository already has this tag."""
    ecr = ecr or ecr_client(repository)
    image = repository.ref(tag)
    existing = pushed_digest(ecr, repository, tag)
    if existing:
        return PushedImage(image, existing, built=None)
    built = build(image)
    username, password = ecr_credentials(ecr)
    login = login_command(built.builder, repository.host, username)
    run(login, input=password, text=True, check=True, capture_output=True)
    run(push_command(built.builder, image), check=True)
    digest = pushed_digest(ecr, repository, tag)
    if not digest:
        raise ShipError(f"pushed {image} but ECR does not list it")
    return PushedImage(image, digest, built=built)


def stored_bento(tag: str) -> Any:
    import bentoml  # a slow import, needed only to build
    from bentoml.exceptions import NotFound

    try:
        return bentoml.get(tag)
    except NotFound as error:
        raise ShipError(
            f"bento {tag} is not in this machine's BentoML store: rebuild it with "
            "`dvc repro --force --single-item package`"
        ) from error


def bento_build(tag: str, platform: str) -> Build:
    """The build of the bento `tag`'s image, on BASE_IMAGE if set, with IMAGE_BUILDER's tool or
    the first that works. Nothing is looked up before a build is needed: a rerun whose tag is
    already pushed needs neither the bento nor a builder."""

    def build(image: str) -> BuiltImage:
        bento = stored_bento(tag)
        return build_image(
            bento,
            image,
            builder=choose_builder(os.environ.get(BUILDER_ENV) or None),
            platform=platform,
            revision=git_sha(),
            base_image=os.environ.get(BASE_IMAGE_ENV) or None,
        )

    return build


def image_sbom(built: BuiltImage, tag: str, digest: str | None, out: Path = SBOM_DIR) -> str:
    """The SBOM of the image just built, into `out` and, when a registry is configured, beside
    the bento there; a pushed image must have one there. The line that says where it went."""
    document = sbom_for(image_runner(built.builder), built.ref, bento=tag, digest=digest)
    name, version = split_tag(tag)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}-{version}.cdx.json"
    path.write_text(document, encoding="utf-8")
    bucket = os.environ.get(BUCKET_ENV, "")
    if not bucket:
        if digest:
            raise ShipError(
                f"{built.ref} is pushed, but its SBOM ({path}) needs the registry: set "
                f"{BUCKET_ENV} (`make stack-env`) and run `make sbom IMAGE={built.ref}`"
            )
        return f"sbom: {path} (no {BUCKET_ENV}: not published)"
    written = publish_sbom(bucket, tag, document)
    state = "published" if written else "already in the registry (same packages)"
    return f"sbom: {path}, {state}: s3://{bucket}/{sbom_key(name, version)}"


def _write_outputs(lines: dict[str, str]) -> None:
    target = os.environ.get(OUTPUT_ENV)
    if target:
        with Path(target).open("a", encoding="utf-8") as outputs:
            outputs.writelines(f"{key}={value}\n" for key, value in lines.items())


def _report(built: BuiltImage | None, pushed: PushedImage | None) -> None:
    lines: dict[str, str] = {}
    if built:
        lines["image"] = built.ref
        if built.size is not None:
            lines["size"] = str(built.size)
        steps = ", ".join(f"{step} {seconds:.0f}s" for step, seconds in built.seconds.items())
        size = f"{built.size / 1e6:.0f} MB" if built.size is not None else "size unknown"
        print(f"image: built {built.ref} on {built.base} ({size}; {steps})", file=sys.stderr)
    if pushed:
        lines |= {"image": pushed.image, "digest": pushed.digest, "pinned": pushed.pinned}
        state = "built and pushed" if pushed.built else "already in the repository"
        write_summary(f"### Image {state}\n\n`{pushed.pinned}`")
    else:
        write_summary(f"### Image built\n\n`{lines['image']}`")
    emit("\n".join(f"{key}={value}" for key, value in lines.items() if key != "pinned"))
    _write_outputs(lines)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bento", help="NAME:VERSION (default: reports/bento.json)")
    parser.add_argument(
        "--repository", help=f"ECR repository URL (default: ${REPOSITORY_ENV}; none: local only)"
    )
    parser.add_argument(
        "--tag", help="image tag (default: the git commit, or the bento's version when local)"
    )
    parser.add_argument("--platform", default=DEFAULT_PLATFORM)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    options = _parse(argv)
    try:
        url = options.repository or os.environ.get(REPOSITORY_ENV, "")
        repository = Repository.parse(url) if url else None
        tag = bento_tag(options.bento)
        build = bento_build(tag, options.platform)
        if repository is None:
            built, pushed = build(local_ref(tag, options.tag)), None
        else:
            pushed = ship_image(repository, options.tag or git_sha(), build=build)
            built = pushed.built
        sbom = image_sbom(built, tag, pushed and pushed.digest) if built else None
    except (ShipError, ClientError, BotoCoreError) as error:
        print(f"image: {error}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as error:
        detail = " | ".join((error.stderr or "").strip().splitlines()[-3:])
        print(
            f"image: `{' '.join(error.cmd[:3])} ...` failed ({error.returncode}) {detail}",
            file=sys.stderr,
        )
        return 1
    _report(built, pushed)
    if sbom:
        print(sbom, file=sys.stderr)
        write_summary(f"- {sbom}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
