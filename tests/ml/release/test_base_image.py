"""The Debian base's steps: debootstrap, apt in the chroot, the trim and buildah's commit.

The base itself is made for real by tests/e2e/test_image.py when the store lacks it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.release import base_image
from ml.release.base_image import commit_commands, debootstrap_command, install_command, trim
from ml.release.containers import find_tool


def test_debootstrap_and_apt_command_lines(tmp_path: Path) -> None:
    command = debootstrap_command(tmp_path, "http://mirror/debian")
    # Found in /usr/sbin too: Debian puts it there, off a non-root user's PATH.
    assert Path(command[0]).name == "debootstrap"
    assert command[1:] == [
        "--variant=minbase",
        "bookworm",
        str(tmp_path),
        "http://mirror/debian",
    ]
    chroot = install_command(tmp_path)
    assert Path(chroot[0]).name == "chroot"
    assert chroot[1:4] == [str(tmp_path), "/bin/sh", "-c"]
    assert "--no-install-recommends python3.11 python3.11-venv ca-certificates" in chroot[4]
    assert chroot[4].endswith("apt-get clean && rm -rf /var/lib/apt/lists/*")


def test_sbin_tools_are_found_off_the_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert find_tool("chroot") == "/usr/sbin/chroot"
    assert find_tool("no-such-tool-anywhere") is None


def test_trim_keeps_copyright_notices_only(tmp_path: Path) -> None:
    files = [
        "usr/share/man/man1/ls.1.gz",
        "usr/share/locale/de/LC_MESSAGES/apt.mo",
        "var/cache/apt/archives/python3.11.deb",
        "usr/share/doc/python3.11/copyright",
        "usr/share/doc/python3.11/changelog.Debian.gz",
        "usr/share/doc/libc6/README",
        "usr/bin/python3.11",
    ]
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    trim(tmp_path)
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["usr/bin/python3.11", "usr/share/doc/python3.11/copyright"]
    # The trimmed folders stay, empty, for packages installed later.
    assert (tmp_path / "usr/share/man").is_dir()
    assert not (tmp_path / "usr/share/doc/libc6").exists()


def test_commit_labels_say_what_the_base_holds(tmp_path: Path) -> None:
    tag = "localhost/mlops-base:bookworm-py3.11"
    copy, config, commit = commit_commands("working-1", tmp_path, tag, "http://mirror/debian")
    assert copy == ["buildah", "copy", "--quiet", "working-1", str(tmp_path), "/"]
    assert config[:5] == ["buildah", "config", "--env", "LANG=C.UTF-8", "--cmd"]
    assert "org.opencontainers.image.title=localhost/mlops-base" in config
    assert any("by debootstrap from http://mirror/debian" in part for part in config)
    assert config[-1] == "working-1"
    assert commit == ["buildah", "commit", "--rm", "--quiet", "working-1", tag]


def test_main_names_the_missing_tools(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(base_image, "find_tool", lambda tool: None)
    assert base_image.main([]) == 2
    assert "missing debootstrap, buildah, chroot" in capsys.readouterr().err
