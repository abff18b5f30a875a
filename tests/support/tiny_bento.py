"""A real bento of a one-endpoint service, built in a throwaway BentoML home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ml.core.identity import load_identity

SERVICE = """
import bentoml


@bentoml.service
class Echo:
    @bentoml.api
    def echo(self, text: str) -> str:
        return text
"""
LABELS = {**load_identity().cost_labels("dev"), "git-sha": "3f2a9c1", "data-md5": "0123abcd"}
BIN = Path(sys.executable).parent


def bentoml_env(home: Path, **extra: str) -> dict[str, str]:
    """This environment with BentoML's store at `home` and this venv's tools first on PATH."""
    return {
        **os.environ,
        "BENTOML_HOME": str(home),
        "BENTOML_DO_NOT_TRACK": "true",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        **extra,
    }


def build_tiny_bento(src: Path, home: Path) -> str:
    """`bentoml build` of the Echo service in `src`, stored under `home`; returns its tag."""
    lines = ["service: service:Echo", "name: echo", "include: [service.py]", "labels:"]
    lines += [f"  {key}: {json.dumps(value)}" for key, value in LABELS.items()]
    (src / "service.py").write_text(SERVICE, encoding="utf-8")
    (src / "bentofile.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = subprocess.run(
        ["bentoml", "build", "--output", "tag"],
        cwd=src,
        env=bentoml_env(home),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    tag = next(line for line in out.splitlines() if line.startswith("__tag__:"))
    return tag.removeprefix("__tag__:")
