"""The versions of every server and client `make bench` ran, for reports/bench.json.

The bento and the FastAPI peer run from this interpreter; MLServer from its own virtual
environment (ml/bench/mlserver.py), asked in a subprocess. uvloop and httptools are listed per
server because uvicorn picks them up only when they are installed (its `loop`/`http` "auto").
"""

from __future__ import annotations

import json
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ml.bench.servers import MLSERVER, PEER, SERVICE
from ml.bench.wrk import wrk_version

STACK = ("uvicorn", "uvloop", "httptools", "scikit-learn")
PACKAGES = {
    SERVICE: ("bentoml", *STACK),
    PEER: ("fastapi", "starlette", *STACK),
    MLSERVER: ("mlserver", "mlserver-sklearn", "fastapi", *STACK),
}
# Run by the peer environment's interpreter: package -> version, "" when not installed.
_QUERY = """
import json, sys
from importlib.metadata import PackageNotFoundError, version
def get(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return ""
print(json.dumps({name: get(name) for name in sys.argv[1:]}))
"""


def installed(names: tuple[str, ...]) -> dict[str, str]:
    """Package -> version in this interpreter, "" when not installed."""
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = ""
    return found


def venv_installed(venv: Path, names: tuple[str, ...]) -> dict[str, str]:
    """Package -> version in another virtual environment."""
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", _QUERY, *names],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def bench_versions(peer_venv: Path) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        SERVICE: installed(PACKAGES[SERVICE]),
        PEER: installed(PACKAGES[PEER]),
        MLSERVER: venv_installed(peer_venv, PACKAGES[MLSERVER]),
        "clients": {"aiohttp": installed(("aiohttp",))["aiohttp"], "wrk": wrk_version()},
    }
