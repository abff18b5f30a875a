"""`make plots` for real, and what its page loads, for the tests of the page and the PR report."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ml.pipeline import plots
from tests.support.make import run_make

RENDER_SCRIPT = Path(__file__).with_name("render_plots.cjs")


def make_plots(out: Path, *variables: str) -> Path:
    """`make plots OUT=<out> [variables]` (installing vega with npm once); returns the page.

    Skips when npm is missing or cannot install, the one thing a machine without the registry
    cannot do; any other failure fails."""
    if shutil.which("npm") is None or shutil.which("make") is None:
        pytest.skip("`make plots` installs vega with npm: npm (or make) is not installed")
    done = run_make("plots", f"OUT={out}", *variables)
    if done.returncode and not _libraries_installed():
        pytest.skip(f"npm could not install vega (no registry?): {done.stderr.strip()[-300:]}")
    assert done.returncode == 0, done.stdout + done.stderr
    return out / plots.PAGE


def _libraries_installed() -> bool:
    try:
        plots.libraries()
    except plots.PlotsError:
        return False
    return True


_FETCHED_BY = {"script": "src", "link": "href", "img": "src", "iframe": "src"}


class _Loads(HTMLParser):
    """Every address the page makes the browser fetch: scripts, styles, images, frames."""

    def __init__(self) -> None:
        super().__init__()
        self.addresses: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = _FETCHED_BY.get(tag)
        self.addresses += [value or "" for name, value in attrs if name == wanted]


def loaded_addresses(page: Path) -> list[str]:
    parser = _Loads()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.addresses


def remote(address: str) -> bool:
    return "://" in address or address.startswith("//")


def marks_drawn(folder: Path) -> list[int]:
    """Render each plot of folder/index.html in Node.js with the scripts beside it."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: it renders the page's plots")
    done = subprocess.run(
        ["node", str(RENDER_SCRIPT), str(folder)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)
