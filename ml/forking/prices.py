"""After the rename: the new region's list prices, which `make cost` needs.

`make cost` prices a stack from infra/tools/cost/prices.yaml, which holds the regions someone
fetched. When the new region has none, init runs `make prices REGION=<region>` if AWS
credentials are at hand; otherwise, or when that fails, it says what to run. Standard library
only (copier runs init before any dependency is installed): the table is read as text.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

PRICE_TABLE = Path("infra", "tools", "cost", "prices.yaml")
# What boto3 finds credentials from, besides the shared files below (instance roles aside).
CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)
_SECTION = re.compile(r"^regions:[ \t]*(?:#.*)?$", re.MULTILINE)
_TOP_LEVEL = re.compile(r"^[^\s#]", re.MULTILINE)


def no_prices_note(region: str) -> str:
    return (
        f"No prices for {region} yet: run `make prices REGION={region}` with AWS credentials "
        "before `make cost`."
    )


def has_prices(table: str, region: str) -> bool:
    """Whether the table's top-level `regions:` mapping has the key `region`."""
    section = _SECTION.search(table)
    if section is None:
        return False
    rest = table[section.end() :]
    end = _TOP_LEVEL.search(rest)
    block = rest[: end.start()] if end else rest
    return re.search(rf"^[ \t]+{re.escape(region)}:", block, re.MULTILINE) is not None


def has_credentials(environ: Mapping[str, str]) -> bool:
    """Whether boto3 would likely find AWS credentials: variables or the shared files."""
    if any(environ.get(name) for name in CREDENTIAL_VARIABLES):
        return True
    try:
        aws = Path.home() / ".aws"
    except RuntimeError:  # no home directory to look in
        return False
    files = (
        environ.get("AWS_SHARED_CREDENTIALS_FILE") or aws / "credentials",
        environ.get("AWS_CONFIG_FILE") or aws / "config",
    )
    return any(Path(name).is_file() for name in files)


def _fetch(root: Path, region: str, environ: Mapping[str, str]) -> bool:
    # The repository's table, not one a PRICES variable names for `make cost`.
    env = {name: value for name, value in environ.items() if name != "PRICES"}
    print(f"Fetching the list prices of {region}: make prices REGION={region}", flush=True)
    try:
        done = subprocess.run(
            ["make", "prices", f"REGION={region}"], cwd=root, env=env, check=False
        )
    except OSError:  # no `make` on PATH
        return False
    return done.returncode == 0


def ensure_prices(root: Path, region: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Fetch the region's prices when the table lacks them; None, or the line to print."""
    environ = os.environ if environ is None else environ
    table = root / PRICE_TABLE
    if not table.is_file() or has_prices(table.read_text(encoding="utf-8"), region):
        return None
    fetched = has_credentials(environ) and _fetch(root, region, environ)
    if fetched and has_prices(table.read_text(encoding="utf-8"), region):
        return None
    return no_prices_note(region)
