"""Reading a JSON report another pipeline step wrote, with errors that say which step to rerun."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json_report(path: Path, error: type[Exception], rerun: str) -> Any:
    """The file's JSON; `error` names the file and, when it is missing, what writes it (`rerun`)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path.name} not found: run {rerun}") from None
    except json.JSONDecodeError as exc:
        raise error(f"{path.name} is not valid JSON: {exc}") from None
