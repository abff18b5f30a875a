"""`make serve PORT=3000`: serve the bento the pipeline last built, in the foreground.

    python -m ml.serving.local [--port 3000] [--host 127.0.0.1] [--bento NAME:VERSION]

The bento is the one reports/bento.json names (the package stage's record), run with
`bentoml serve <tag>`. Also home of `running()`, which starts a bento on a free loopback port for
the demo, the benchmark and the tests, and stops it whatever happens.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from ml.core.paths import BENTO_INFO_FILE, use_repo_bentoml_home
from ml.core.prediction_log_layout import DEFAULT_LOG_DIR, URL_ENV

LOCALHOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


class NoBentoError(RuntimeError):
    """No bento to serve; the message says how to build one."""


class ServerStartError(RuntimeError):
    """The server did not become ready; the message holds the end of its log."""


def recorded_bento(info_file: Path = BENTO_INFO_FILE) -> str:
    """The bento tag the package stage recorded, failing clearly when there is none."""
    try:
        tag = json.loads(info_file.read_text(encoding="utf-8"))["bento"]
    except FileNotFoundError:
        raise NoBentoError(
            f"no bento built yet ({info_file.name} not found): run `make repro`"
        ) from None
    except (json.JSONDecodeError, KeyError, TypeError):
        raise NoBentoError(f"{info_file.name} names no bento: run `make repro`") from None
    return str(tag)


def in_store(tag: str) -> bool:
    use_repo_bentoml_home()
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        bentoml.get(tag)
    except NotFound:
        return False
    return True


def latest_bento(info_file: Path = BENTO_INFO_FILE) -> str:
    """The recorded bento, provided this machine's BentoML store holds it."""
    tag = recorded_bento(info_file)
    if not in_store(tag):
        raise NoBentoError(
            f"bento {tag} ({info_file.name}) is not in this machine's BentoML store "
            f"({os.environ['BENTOML_HOME']}): run `make repro`, or `dvc repro --force "
            "--single-item package` when the pipeline is already up to date (a fresh clone)"
        )
    return tag


def venv_env() -> dict[str, str]:
    """This environment with its bin folder first on PATH: what `dvc repro`'s stages must run
    (`python -m ml.<stage>`), as under make."""
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": os.pathsep.join((bin_dir, os.environ.get("PATH", "")))}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def port_taken(port: int, host: str = LOCALHOST) -> bool:
    """Whether something already listens on `port` of `host` or of the loopback address (where
    the README's `curl` calls). SO_REUSEADDR, as the server sets it: a closing connection of an
    earlier run does not count."""
    for address in dict.fromkeys((LOCALHOST, host)):
        try:
            addresses = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)
        except socket.gaierror:
            continue  # an unknown host: the server says so itself
        for family, kind, proto, _, sockaddr in addresses:
            with socket.socket(family, kind, proto) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind(sockaddr)
                except OSError as error:
                    if error.errno == errno.EADDRINUSE:
                        return True
    return False


def serve_command(bento: str, port: int, host: str = LOCALHOST) -> list[str]:
    return [sys.executable, "-m", "bentoml", "serve", bento, "--host", host, "--port", str(port)]


def wait_ready(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float, path: str = "/readyz"
) -> None:
    """Until `url` + `path` answers 200; a server that exits or never gets there is an error."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerStartError(f"the server exited with {process.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}{path}", timeout=2) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise ServerStartError(f"not ready after {timeout:.0f} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (BentoML stops its workers), then SIGKILL for the whole group if it hangs."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def running(
    command: list[str],
    port: int,
    env: Mapping[str, str] | None = None,
    timeout: float = STARTUP_TIMEOUT_S,
) -> Iterator[str]:
    """Run `command` (an HTTP server on `port`), yield its URL once /readyz answers 200, stop it.

    The server gets its own process group, so Ctrl-C reaches this process only and the
    `finally` stops the server and every worker it started.
    """
    with tempfile.TemporaryDirectory(prefix="server-log-") as tmp:
        log = Path(tmp) / "server.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        try:
            url = f"http://{LOCALHOST}:{port}"
            wait_ready(url, process, log, timeout)
            yield url
        finally:
            stop(process)


def prediction_log_env() -> dict[str, str]:
    """A bento served from this checkout logs its predictions to its data/predictions folder
    (inside the bento, the default would be a temporary folder), unless PREDICTION_LOG_URL says
    otherwise."""
    return {URL_ENV: os.environ.get(URL_ENV) or str(DEFAULT_LOG_DIR)}


@contextmanager
def running_bento(bento: str, port: int | None = None) -> Iterator[str]:
    port = port or free_port()
    use_repo_bentoml_home()
    with running(serve_command(bento, port), port, prediction_log_env()) as url:
        yield url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--host", default=LOCALHOST, help="0.0.0.0 to accept other machines")
    parser.add_argument("--bento", help="NAME:VERSION (default: the one reports/bento.json names)")
    options = parser.parse_args(argv)
    if not 0 < options.port < 65536:
        parser.error(f"--port {options.port} is not a TCP port (1-65535)")
    if port_taken(options.port, options.host):
        # Checked first: BentoML's process manager would end in a traceback on it.
        print(
            f"serve: port {options.port} is taken: pick another with make serve PORT=<port>",
            file=sys.stderr,
        )
        raise SystemExit(2)
    use_repo_bentoml_home()
    try:
        bento = options.bento or latest_bento()
    except NoBentoError as error:
        raise SystemExit(f"serve: {error}") from None
    print(f"serve: {bento} on http://{options.host}:{options.port} (Ctrl-C stops it)", flush=True)
    command = serve_command(bento, options.port, options.host)
    os.environ.update(prediction_log_env())
    print(f"serve: predictions are logged to {os.environ[URL_ENV]}", flush=True)
    os.execv(command[0], command)  # noqa: S606 - our own interpreter, no shell


if __name__ == "__main__":
    main()
