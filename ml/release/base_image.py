"""A base image made from Debian packages alone, for machines that cannot pull one.

    sudo python -m ml.release.base_image [--tag localhost/mlops-base:bookworm-py3.11]
        [--mirror http://deb.debian.org/debian] [--keep-rootfs DIR]

`debootstrap --variant=minbase` writes a Debian bookworm root filesystem from the mirror, apt
adds Python 3.11 with venv (Debian's python3 in bookworm) and the CA certificates, the package
lists, documentation and locales are dropped, and buildah commits the tree as an image. No
registry is involved: the Debian mirror (or a local copy of it, --mirror) is the only source, so
an offline machine with a mirror builds the bento's image on this base (`BASE_IMAGE=<tag>
make image`, which also picks it by itself when the upstream base cannot be pulled).

debootstrap needs root (it creates device nodes and runs maintainer scripts in a chroot).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from ml.core.artifacts import ShipError
from ml.release.containers import Runner, find_tool
from ml.release.image_build import DEBIAN_RELEASE, local_base

PYTHON_VERSION = "3.11"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
PACKAGES = (f"python{PYTHON_VERSION}", f"python{PYTHON_VERSION}-venv", "ca-certificates")
# What an image needs no copy of; copyright files stay with the packages they belong to.
TRIMMED = ("usr/share/man", "usr/share/info", "usr/share/locale", "var/cache/apt/archives")
DOCS = "usr/share/doc"
TOOLS = ("debootstrap", "buildah", "chroot")


def debootstrap_command(rootfs: Path, mirror: str, suite: str = DEBIAN_RELEASE) -> list[str]:
    debootstrap = find_tool("debootstrap") or "debootstrap"
    return [debootstrap, "--variant=minbase", suite, str(rootfs), mirror]


def install_command(rootfs: Path, packages: Sequence[str] = PACKAGES) -> list[str]:
    # In the chroot: apt resolves the dependencies debootstrap's --include would miss.
    script = (
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install --yes -qq "
        f"--no-install-recommends {' '.join(packages)} && apt-get clean "
        "&& rm -rf /var/lib/apt/lists/*"
    )
    return [find_tool("chroot") or "chroot", str(rootfs), "/bin/sh", "-c", script]


def trim(rootfs: Path) -> None:
    """Drop what a server never reads: manuals, locales, the downloaded packages, and every
    file under /usr/share/doc but the copyright notices."""
    for relative in TRIMMED:
        target = rootfs / relative
        if target.is_dir():
            shutil.rmtree(target)
            target.mkdir()
    for path in sorted((rootfs / DOCS).rglob("*"), reverse=True):
        if path.is_symlink() or path.is_file():
            if path.name != "copyright":
                path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def commit_commands(container: str, rootfs: Path, tag: str, mirror: str) -> list[list[str]]:
    """buildah's steps from the tree to an image; `container` is `buildah from scratch`'s name."""
    labels = {
        "org.opencontainers.image.title": tag.rsplit(":", 1)[0],
        "org.opencontainers.image.description": f"Debian {DEBIAN_RELEASE} minbase with Python "
        f"{PYTHON_VERSION} (venv) and CA certificates, by debootstrap from {mirror}",
    }
    config = ["buildah", "config", "--env", "LANG=C.UTF-8", "--cmd", f"python{PYTHON_VERSION}"]
    for key, value in labels.items():
        config += ["--label", f"{key}={value}"]
    return [
        ["buildah", "copy", "--quiet", container, str(rootfs), "/"],
        [*config, container],
        ["buildah", "commit", "--rm", "--quiet", container, tag],
    ]


def make_base(tag: str, mirror: str, work: Path, run: Runner = subprocess.run) -> dict[str, float]:
    """Build the base image `tag`; the seconds each step took."""
    rootfs = work / "rootfs"
    timings: dict[str, float] = {}
    start = time.monotonic()
    run(debootstrap_command(rootfs, mirror), check=True, capture_output=True, text=True)
    timings["debootstrap"] = time.monotonic() - start
    start = time.monotonic()
    run(install_command(rootfs), check=True, capture_output=True, text=True)
    trim(rootfs)
    timings["python"] = time.monotonic() - start
    start = time.monotonic()
    container = run(
        ["buildah", "from", "scratch"], check=True, capture_output=True, text=True
    ).stdout.strip()
    for command in commit_commands(container, rootfs, tag, mirror):
        run(command, check=True, capture_output=True, text=True)
    timings["commit"] = time.monotonic() - start
    return timings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default=local_base(PYTHON_VERSION))
    parser.add_argument("--mirror", default=os.environ.get("DEBIAN_MIRROR", DEFAULT_MIRROR))
    parser.add_argument("--keep-rootfs", type=Path, help="build the tree here and keep it")
    options = parser.parse_args(argv)
    try:
        missing = [tool for tool in TOOLS if not find_tool(tool)]
        if missing:
            raise ShipError(f"missing {', '.join(missing)}: apt-get install debootstrap buildah")
        if os.geteuid() != 0:
            raise ShipError("debootstrap needs root: run it with sudo")
        if options.keep_rootfs:
            options.keep_rootfs.mkdir(parents=True, exist_ok=True)
            timings = make_base(options.tag, options.mirror, options.keep_rootfs)
        else:
            with tempfile.TemporaryDirectory(prefix="base-image-") as work:
                timings = make_base(options.tag, options.mirror, Path(work))
    except ShipError as error:
        print(f"base-image: {error}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as error:
        detail = (error.stderr or "").strip().splitlines()[-3:]
        print(f"base-image: `{' '.join(error.cmd)}` failed: {' | '.join(detail)}", file=sys.stderr)
        return 1
    steps = ", ".join(f"{step} {seconds:.0f}s" for step, seconds in timings.items())
    print(f"base-image: {options.tag} ({steps})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
