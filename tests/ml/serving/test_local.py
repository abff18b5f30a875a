"""`make serve` (ml/serving/local.py): a port already in use is named, with what to do instead."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from ml.core.paths import REPO_ROOT
from ml.serving.local import LOCALHOST, port_taken
from tests.support.network import free_port


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something listens on, as another server would."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ml.serving.local", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize("host", [LOCALHOST, "0.0.0.0"])
def test_a_taken_port_is_named_without_a_traceback(busy_port: int, host: str) -> None:
    result = serve("--port", str(busy_port), "--host", host)
    assert result.returncode == 2
    assert result.stderr == (
        f"serve: port {busy_port} is taken: pick another with make serve PORT=<port>\n"
    )
    assert result.stdout == ""


def test_a_port_taken_on_all_interfaces_is_taken_on_loopback_too() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("0.0.0.0", 0))  # another server, listening everywhere
        sock.listen()
        assert port_taken(int(sock.getsockname()[1]))


def test_a_free_port_is_not_taken() -> None:
    assert not port_taken(free_port())


def test_a_port_out_of_range_is_a_usage_error() -> None:
    result = serve("--port", "70000")
    assert result.returncode == 2
    assert "--port 70000 is not a TCP port (1-65535)" in result.stderr
    assert "Traceback" not in result.stderr
