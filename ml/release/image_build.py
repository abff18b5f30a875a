"""The bento's image, built from a lean Dockerfile rather than BentoML's generated one.

BentoML's own Dockerfile (v2 bentos, which `bentoml containerize` regenerates from bento.yaml)
installs build-essential and git, leaves uv's and apt's caches behind and takes its wheels from
the network inside the build. Here the build context holds three things: the bento with its
models (laid out by BentoML itself, `construct_containerfile`), every wheel the bento installs,
downloaded beforehand at the pins of constraints.txt for the image's platform, and the Dockerfile
rendered from templates/Dockerfile.j2. The bento itself is unchanged: its tag and bento.yaml are
the same whatever builds its image.

The base image is an argument of the build (BASE_IMAGE): the upstream Python image when it can be
pulled, else the Debian base `python -m ml.release.base_image` makes with debootstrap.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from ml.core.artifacts import ShipError
from ml.core.identity import load_identity
from ml.core.paths import REPO_ROOT
from ml.release.containers import (
    Runner,
    Which,
    build_command,
    exists_command,
    image_runner,
    pull_command,
    size_command,
)

TEMPLATE = Path(__file__).with_name("templates") / "Dockerfile.j2"
CONSTRAINTS = REPO_ROOT / "constraints.txt"
BASE_IMAGE_ENV = "BASE_IMAGE"
# The Python image the upstream base comes from, and the Debian release both bases share (the
# wheels' manylinux tags follow its glibc).
DEBIAN_RELEASE = "bookworm"
GLIBC_MINOR = 36
UPSTREAM_REPOSITORY = "docker.io/library/python"
LOCAL_BASE_REPOSITORY = "localhost/mlops-base"
# What the cluster expects of the image (infra/components/serving/names.py): uid 1034, BentoML's
# home and the bento under /home/bentoml, the server on port 3000.
UID = 1034
HOME = "/home/bentoml"
BENTO_PATH = f"{HOME}/bento"
PORT = 3000
ARCHES = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ENV_VALUE = re.compile(r"^[A-Za-z0-9._:/@+-]*$")


def upstream_base(python_version: str) -> str:
    return f"{UPSTREAM_REPOSITORY}:{python_version}-slim-{DEBIAN_RELEASE}"


def local_base(python_version: str) -> str:
    return f"{LOCAL_BASE_REPOSITORY}:{DEBIAN_RELEASE}-py{python_version}"


def choose_base(
    requested: str | None, tool: str, python_version: str, platform: str, run: Runner
) -> str:
    """The base to build on: `requested` if given; else the upstream image when it can be pulled;
    else the locally made Debian base when the store has it."""
    if requested:
        return requested
    upstream, local = upstream_base(python_version), local_base(python_version)
    pulled = run(pull_command(tool, upstream, platform), capture_output=True, text=True)
    if pulled.returncode == 0:
        return upstream
    if run(exists_command(tool, local), capture_output=True, text=True).returncode == 0:
        print(f"image: cannot pull {upstream} (offline?): building on {local}", file=sys.stderr)
        return local
    raise ShipError(
        f"cannot pull {upstream} ({pulled.stderr.strip().splitlines()[-1:] or 'no reason'}) and "
        f"there is no {local}: make it with `sudo python -m ml.release.base_image` (Debian "
        f"packages, no registry), or set {BASE_IMAGE_ENV} to a base image with Python "
        f"{python_version}"
    )


def platform_tags(platform: str, glibc_minor: int = GLIBC_MINOR) -> list[str]:
    """pip's --platform tags for wheels the base's glibc can load (pip does not widen them)."""
    arch = ARCHES.get(platform)
    if arch is None:
        raise ShipError(f"platform {platform}: pick one of {', '.join(ARCHES)}")
    return [f"manylinux_2_{minor}_{arch}" for minor in range(5, glibc_minor + 1)]


def wheel_command(
    requirements: Path, constraints: Path, into: Path, platform: str, python_version: str
) -> list[str]:
    """`pip download` of every wheel the image installs, for its platform and Python."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    command += ["--dest", str(into), "-r", str(requirements), "-c", str(constraints)]
    command += ["--only-binary=:all:", "--implementation", "cp"]
    command += ["--python-version", python_version, "--abi", f"cp{python_version.replace('.', '')}"]
    for tag in platform_tags(platform):
        command += ["--platform", tag]
    return command


def bento_envs(envs: Iterable[Any]) -> list[tuple[str, str]]:
    """The bento's environment variables (BentoML's `envs`), for the Dockerfile's ENV lines."""
    pairs = []
    for env in envs:
        name, value = str(env.name), "" if env.value is None else str(env.value)
        if not ENV_NAME.fullmatch(name) or not ENV_VALUE.fullmatch(value):
            raise ShipError(f"the bento's env {name}={value!r} cannot go into an ENV line as is")
        pairs.append((name, value))
    return pairs


def render_dockerfile(
    base_image: str, python_version: str, envs: list[tuple[str, str]], template: Path = TEMPLATE
) -> str:
    # A Dockerfile, not HTML: nothing to escape, and every value was checked above.
    environment = jinja2.Environment(  # noqa: S701
        undefined=jinja2.StrictUndefined, trim_blocks=True, keep_trailing_newline=True
    )
    return environment.from_string(template.read_text(encoding="utf-8")).render(
        base_image=base_image,
        python=f"python{python_version}",
        envs=envs,
        uid=UID,
        home=HOME,
        bento_path=BENTO_PATH,
        port=PORT,
    )


def readable_by_all(root: Path) -> None:
    """Folders 0755 and files 0644 (0755 if executable): BentoML's store keeps models 0700 to
    its owner, and the image's files belong to root while the server runs as uid 1034."""
    for path in (root, *root.rglob("*")):
        if path.is_symlink():
            continue
        executable = path.is_dir() or path.stat().st_mode & 0o100
        path.chmod(0o755 if executable else 0o644)


@dataclass(frozen=True)
class BuildContext:
    path: Path
    python_version: str
    wheels: list[str]

    @property
    def dockerfile(self) -> Path:
        return self.path / "Dockerfile"


def build_context(
    bento: Any,
    into: Path,
    *,
    platform: str,
    constraints: Path = CONSTRAINTS,
    run: Runner = subprocess.run,
) -> BuildContext:
    """bento/, wheels/ and the Dockerfile, written into the empty folder `into`."""
    from bentoml._internal.container import construct_containerfile

    python_version = str(bento.info.image.python_version)
    # BentoML's own layout of the bento and its models; its generated Dockerfile is not used.
    with construct_containerfile(bento, enable_buildkit=False) as (laid_out, generated):
        Path(generated).unlink()
        shutil.copytree(laid_out, into / "bento")
    readable_by_all(into / "bento")
    (into / "bento" / "env" / "docker" / "entrypoint.sh").chmod(0o755)
    wheels = into / "wheels"
    wheels.mkdir()
    requirements = shutil.copyfile(
        into / "bento" / "env" / "python" / "requirements.txt", wheels / "requirements.txt"
    )
    shutil.copyfile(constraints, wheels / "constraints.txt")
    command = wheel_command(requirements, constraints, wheels, platform, python_version)
    run(command, check=True, capture_output=True, text=True)
    dockerfile = render_dockerfile(
        upstream_base(python_version), python_version, bento_envs(bento.info.envs)
    )
    (into / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    return BuildContext(into, python_version, sorted(p.name for p in wheels.glob("*.whl")))


def image_labels(bento_tag: str, revision: str, repository: str, base: str) -> Mapping[str, str]:
    """OCI annotations saying what the image holds and where it came from."""
    name, _, version = bento_tag.partition(":")
    return {
        "org.opencontainers.image.title": name,
        # Set, or the base's own description would pass for the image's.
        "org.opencontainers.image.description": f"BentoML bento {bento_tag}",
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.source": f"https://github.com/{repository}",
        "org.opencontainers.image.base.name": base,
    }


@dataclass(frozen=True)
class BuiltImage:
    ref: str
    builder: str
    base: str
    size: int | None
    seconds: Mapping[str, float]


def image_size(builder: str, image: str, run: Runner, which: Which = shutil.which) -> int | None:
    """The image's size in bytes as the local store holds it; None without a tool that says."""
    try:
        tool = image_runner(builder, which)
    except ShipError:
        return None
    answer = run(size_command(tool, image), capture_output=True, text=True, check=True)
    return int(answer.stdout.strip())


def build_image(
    bento: Any,
    image: str,
    *,
    builder: str,
    platform: str,
    revision: str,
    base_image: str | None = None,
    run: Runner = subprocess.run,
) -> BuiltImage:
    """Lay out the build context in a temporary folder and build `image` from it."""
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="image-context-") as work:
        start = time.monotonic()
        context = build_context(bento, Path(work), platform=platform, run=run)
        seconds["context"] = time.monotonic() - start
        base = choose_base(base_image, builder, context.python_version, platform, run)
        labels = image_labels(str(bento.tag), revision, load_identity().repository, base)
        command = build_command(
            builder, context.path, image, platform=platform, base_image=base, labels=labels
        )
        start = time.monotonic()
        # The build's log goes to stderr (file descriptor 2): stdout carries only the result.
        run(command, check=True, stdout=2)
        seconds["build"] = time.monotonic() - start
    return BuiltImage(image, builder, base, image_size(builder, image, run), seconds)
