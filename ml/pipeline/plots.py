"""`make plots [BASE=<rev>]`: DVC's plots as a page that opens without network.

    python -m ml.pipeline.plots [--base main] [--out dvc_plots] [--node-modules DIR]

`dvc plots show` and `dvc plots diff` write a page that loads vega, vega-lite and vega-embed from
a CDN, so it is blank offline (on a train, or a CI artifact opened behind a proxy). This renders
the same plots into the project's template (plots.html beside this module), which loads the three
from the page's own folder, and copies them there from the npm packages `make plots` installs
(the Makefile pins their versions). `make pr-report` renders its plots the same way.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from ml.core.paths import REPO_ROOT

TEMPLATE = Path(__file__).with_name("plots.html")
# The file the template loads -> the npm package whose build/ folder has it.
LIBRARIES = {
    "vega.min.js": "vega",
    "vega-lite.min.js": "vega-lite",
    "vega-embed.min.js": "vega-embed",
}
# The npm folder of the environment running this (the Makefile's $(VENV)/npm).
NODE_MODULES = Path(sys.prefix) / "npm" / "node_modules"
OUT = REPO_ROOT / "dvc_plots"
PAGE = "index.html"


class PlotsError(RuntimeError):
    """The plots could not be rendered; the message says why and what to run."""


def libraries(node_modules: Path = NODE_MODULES) -> list[Path]:
    """The installed JavaScript files the template loads; an error names the first one missing."""
    files = [node_modules / package / "build" / name for name, package in LIBRARIES.items()]
    for file in files:
        if not file.is_file():
            raise PlotsError(f"{file} not found: run `make plots` (it installs vega with npm)")
    return files


def dvc_command(out: Path, base: str | None) -> list[str]:
    """`dvc plots show`, or `dvc plots diff <base>` (the base against the workspace)."""
    options = ["--html-template", str(TEMPLATE), "--out", str(out)]
    # The base goes after `--`, so a ref that starts with a dash is never read as an option.
    action = ["diff", *options, "--", base] if base else ["show", *options]
    return [sys.executable, "-m", "dvc", "plots", *action]


def render(
    out: Path, base: str | None = None, root: Path = REPO_ROOT, node_modules: Path = NODE_MODULES
) -> Path:
    """Render the plots of `root` (against `base` when given) into out/index.html, with the
    libraries beside it; returns the page."""
    files = libraries(node_modules)
    done = subprocess.run(
        dvc_command(out.resolve(), base), cwd=root, capture_output=True, text=True, check=False
    )
    what = f"dvc plots diff {base}" if base else "dvc plots show"
    if done.returncode:
        raise PlotsError(f"`{what}` failed:\n{(done.stderr or done.stdout).strip()}")
    page = out / PAGE
    if not page.is_file():  # dvc renders nothing when the repository declares no plots
        raise PlotsError(f"`{what}` wrote no {PAGE}:\n{done.stdout.strip()}")
    for file in files:
        shutil.copyfile(file, out / file.name)
    return page


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="git ref to compare the workspace with (main)")
    parser.add_argument("--out", type=Path, default=OUT, help="folder of the page (dvc_plots)")
    parser.add_argument("--node-modules", type=Path, default=NODE_MODULES, help="npm's folder")
    options = parser.parse_args(argv)
    try:
        page = render(options.out, options.base or None, node_modules=options.node_modules)
    except PlotsError as error:
        print(f"plots: {error}", file=sys.stderr)
        return 1
    print(f"Plots: {page.resolve().as_uri()} (opens offline)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
