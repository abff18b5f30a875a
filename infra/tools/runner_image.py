"""The training runners' image (infra/images/runner): its tag, and `make runner-image`.

    python -m infra.tools.runner_image tag                  # py3.11-<12 hex digits>
    python -m infra.tools.runner_image push --stack dev     # build and push, unless it is there

The tag is a hash of everything the image is built from: its Dockerfile, pyproject.toml and
constraints.txt (the base images are pinned in the Dockerfile). `make runner-image` and the
Pulumi program, which points the runner scale sets at `<repository>:<tag>`, compute it alike and
so always agree. The stack's runner image repository (stack output `runnerImageRepositoryUrl`)
has immutable tags: a tag names one image forever, and one already there is never built again.

The build runs with docker when its daemon answers, else podman, else buildah (CONTAINER_TOOL
picks one), from a context holding only the three files. ECR's password comes from
`ecr:GetAuthorizationToken` and reaches `<tool> login` on stdin, never in argv.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ml.core.cli import emit
from ml.core.paths import REPO_ROOT

DOCKERFILE = Path("infra/images/runner/Dockerfile")
# What the Dockerfile copies; the build context holds these and the Dockerfile, nothing else.
CONTEXT_FILES = (Path("pyproject.toml"), Path("constraints.txt"))
STACK_OUTPUT = "runnerImageRepositoryUrl"
REPOSITORY_ENV = "RUNNER_IMAGE_REPOSITORY_URL"
TOOL_ENV = "CONTAINER_TOOL"
TOOLS = ("docker", "podman", "buildah")
# The training pools' GPU instances are x86_64, and the tag does not name an architecture.
PLATFORM = "linux/amd64"
HASH_DIGITS = 12
PYTHON_ARG = re.compile(r"^ARG PYTHON_VERSION=(\d+)\.(\d+)\.\d+\s*$", re.MULTILINE)

Runner = Callable[..., subprocess.CompletedProcess]
Which = Callable[[str], str | None]


class RunnerImageError(RuntimeError):
    """The image can't be tagged, built or pushed; the message says what to do."""


def image_inputs(root: Path = REPO_ROOT) -> dict[Path, bytes]:
    """The files the image is built from, relative path -> content."""
    paths = (DOCKERFILE, *CONTEXT_FILES)
    missing = [str(p) for p in paths if not (root / p).is_file()]
    if missing:
        raise RunnerImageError(f"missing {', '.join(missing)} under {root}")
    return {path: (root / path).read_bytes() for path in paths}


def python_series(dockerfile: bytes) -> str:
    """`3.11` from the Dockerfile's `ARG PYTHON_VERSION=3.11.<patch>`."""
    match = PYTHON_ARG.search(dockerfile.decode())
    if not match:
        raise RunnerImageError(f"{DOCKERFILE} has no `ARG PYTHON_VERSION=<x.y.z>` line")
    return f"{match.group(1)}.{match.group(2)}"


def content_hash(inputs: dict[Path, bytes]) -> str:
    """sha256 over each file's name and content. Line endings are normalised, so a checkout
    with CRLF endings (Windows) computes the tag that Linux and CI compute."""
    digest = hashlib.sha256()
    for path in sorted(inputs, key=str):
        content = inputs[path].replace(b"\r\n", b"\n")
        digest.update(f"{path.as_posix()}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def runner_image_tag(root: Path = REPO_ROOT) -> str:
    """The runner image's tag for this checkout, e.g. `py3.11-0123456789ab`."""
    inputs = image_inputs(root)
    return f"py{python_series(inputs[DOCKERFILE])}-{content_hash(inputs)[:HASH_DIGITS]}"


@dataclass(frozen=True)
class Repository:
    """An ECR repository URL, `<account>.dkr.ecr.<region>.amazonaws.com/<name>`."""

    host: str
    name: str

    @property
    def url(self) -> str:
        return f"{self.host}/{self.name}"

    @property
    def region(self) -> str | None:
        parts = self.host.split(".")
        return parts[3] if len(parts) > 4 and parts[1:3] == ["dkr", "ecr"] else None

    def ref(self, tag: str) -> str:
        return f"{self.url}:{tag}"

    @classmethod
    def parse(cls, url: str) -> Repository:
        url = url.strip().removeprefix("https://").rstrip("/")
        host, _, name = url.partition("/")
        if not (host and name) or ":" in name or "@" in name:
            raise RunnerImageError(f"{url!r} is not a repository URL like <host>/<name> (no tag)")
        return cls(host, name)


def stack_repository(stack: str, run: Runner = subprocess.run) -> str:
    """The stack's runner image repository, from `pulumi stack output`."""
    command = ["pulumi", "stack", "output", "--json", "--stack", stack]
    try:
        result = run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise RunnerImageError(f"no pulumi CLI: install it, or set {REPOSITORY_ENV}") from None
    if result.returncode:
        raise RunnerImageError(f"`{' '.join(command)}` failed: {result.stderr.strip()}")
    try:
        url = json.loads(result.stdout or "{}").get(STACK_OUTPUT)
    except (ValueError, AttributeError):
        raise RunnerImageError(f"`{' '.join(command)}` printed no JSON object") from None
    if not url:
        raise RunnerImageError(f"stack {stack} has no {STACK_OUTPUT} output: run `make up` once")
    return str(url)


def container_tool(
    preferred: str | None = None, which: Which = shutil.which, run: Runner = subprocess.run
) -> str:
    """docker when its daemon answers, else podman, else buildah; `preferred` wins if given."""
    if preferred:
        if preferred not in TOOLS:
            raise RunnerImageError(f"{TOOL_ENV}={preferred}: pick one of {', '.join(TOOLS)}")
        return preferred
    found = [tool for tool in TOOLS if which(tool)]
    if "docker" in found:
        info = run(["docker", "info"], capture_output=True, text=True, check=False)
        if info.returncode == 0:
            return "docker"
        found.remove("docker")
        if not found:
            raise RunnerImageError("docker's daemon is not running, and podman/buildah are absent")
    if not found:
        raise RunnerImageError(f"no container tool: install one of {', '.join(TOOLS)}")
    return found[0]


def build_command(tool: str, image: str, context: Path) -> list[str]:
    dockerfile = str(context / "Dockerfile")
    return [tool, "build", "--platform", PLATFORM, "-f", dockerfile, "-t", image, str(context)]


def login_command(tool: str, host: str, username: str) -> list[str]:
    return [tool, "login", "--username", username, "--password-stdin", host]


def push_command(tool: str, image: str) -> list[str]:
    return [tool, "push", image]


def write_context(root: Path, into: Path) -> Path:
    """A build context of the Dockerfile and the files it copies, nothing else."""
    for path, content in image_inputs(root).items():
        target = into / ("Dockerfile" if path == DOCKERFILE else path.name)
        target.write_bytes(content)
    return into


def ecr_client(repository: Repository) -> Any:
    # The repository's own region, whatever the session's default region is.
    return boto3.client("ecr", region_name=repository.region)


def image_exists(ecr: Any, repository: Repository, tag: str) -> bool:
    try:
        found = ecr.describe_images(repositoryName=repository.name, imageIds=[{"imageTag": tag}])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ImageNotFoundException":
            return False
        raise
    return bool(found.get("imageDetails"))


def ecr_credentials(ecr: Any) -> tuple[str, str]:
    """The registry's username and password, from a 12-hour authorization token."""
    data = ecr.get_authorization_token()["authorizationData"][0]
    username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    return username, password


@dataclass(frozen=True)
class PushResult:
    image: str
    built: bool


def push_image(
    repository: Repository,
    tool: str,
    *,
    root: Path = REPO_ROOT,
    ecr: Any = None,
    run: Runner = subprocess.run,
) -> PushResult:
    """Build the runner image and push it, unless the repository already has its tag."""
    ecr = ecr or ecr_client(repository)
    tag = runner_image_tag(root)
    image = repository.ref(tag)
    if image_exists(ecr, repository, tag):
        return PushResult(image, built=False)
    with tempfile.TemporaryDirectory(prefix="runner-image-") as context:
        run(build_command(tool, image, write_context(root, Path(context))), check=True)
    username, password = ecr_credentials(ecr)
    run(login_command(tool, repository.host, username), input=password, text=True, check=True)
    run(push_command(tool, image), check=True)
    return PushResult(image, built=True)


def _push(options: argparse.Namespace) -> int:
    url = options.repository or os.environ.get(REPOSITORY_ENV) or stack_repository(options.stack)
    repository = Repository.parse(url)
    tool = container_tool(options.tool or os.environ.get(TOOL_ENV) or None)
    result = push_image(repository, tool)
    state = "built and pushed" if result.built else "already in the repository, left alone"
    print(f"runner-image: {result.image} {state}", file=sys.stderr)
    emit(result.image)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("tag", help="print the image tag for this checkout")
    push = commands.add_parser("push", help="build and push the image unless its tag exists")
    push.add_argument("--stack", default="dev", help="the stack whose repository receives it")
    default = f"${REPOSITORY_ENV}, else the stack's {STACK_OUTPUT} output"
    push.add_argument("--repository", help=f"repository URL (default: {default})")
    push.add_argument("--tool", choices=TOOLS, help=f"container tool (default: ${TOOL_ENV})")
    options = parser.parse_args(argv)
    try:
        if options.command == "tag":
            emit(runner_image_tag())
            return 0
        return _push(options)
    except (RunnerImageError, ClientError, BotoCoreError) as error:
        print(f"runner-image: {error}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as error:
        print(f"runner-image: `{' '.join(error.cmd)}` failed ({error.returncode})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
