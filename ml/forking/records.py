"""The pipeline's committed records after a rename: they say the new identity, as a rebuild would.

The package stage writes the cost labels into reports/bento.json (its labels) and
reports/model_card.md (the cost table), and dvc.lock keeps the params it ran with (the `identity`
section among them) and the md5 and size of every output. `make init` runs before any virtualenv
exists, so it cannot rebuild them: it rewrites those values in place, exactly as the package stage
would write them, then re-records in dvc.lock the md5 and size of the outputs it rewrote, so
`dvc status` stays clean. Each value changes only where it still holds the old one: a record that
was stale before the rename stays visibly stale.

What a rewrite cannot renew is the build itself: the bento tag (a digest of the labels and
sources) and the git commit still name the last build until the package stage runs again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping

from ml.core.paths import BENTO_INFO_FILE, DVC_LOCK, MODEL_CARD_FILE, REPO_ROOT
from ml.forking.tree import PARAMS_FILE
from ml.forking.yaml_keys import replace_block_values

BENTO_RECORD = BENTO_INFO_FILE.relative_to(REPO_ROOT).as_posix()
MODEL_CARD = MODEL_CARD_FILE.relative_to(REPO_ROOT).as_posix()
LOCK_FILE = DVC_LOCK.relative_to(REPO_ROOT).as_posix()
RECORD_FILES = (LOCK_FILE, BENTO_RECORD, MODEL_CARD)
# Where dvc.lock keeps a stage's identity params: stages.<stage>.params.<params file>.identity.
LOCK_IDENTITY = ("params", PARAMS_FILE, "identity")

# identity key -> (old value, new value), for the keys whose value changes.
Changes = Mapping[str, tuple[str, str]]


def bento_labels(text: str, changes: Changes) -> str:
    """bento.json with each `"key": "old"` label set to the new value (JSON as package writes)."""
    for key, (old, new) in changes.items():
        pattern = re.compile(rf"(\"{re.escape(key)}\"[ \t]*:[ \t]*){re.escape(json.dumps(old))}")
        text = pattern.sub(lambda m, new=new: m.group(1) + json.dumps(new), text)
    return text


def card_labels(text: str, changes: Changes) -> str:
    """The model card with each `| key | old |` row of its cost table set to the new value."""
    for key, (old, new) in changes.items():
        row = rf"(?m)^(\|[ \t]*{re.escape(key)}[ \t]*\|[ \t]*){re.escape(old)}([ \t]*\|[ \t]*\r?)$"
        text = re.sub(row, lambda m, new=new: m.group(1) + new + m.group(2), text)
    return text


def lock_params(text: str, changes: Changes) -> str:
    """dvc.lock with the identity params of every stage that records them set to the new values."""
    return replace_block_values(text, LOCK_IDENTITY, changes)


def rewrite(path: str, text: str, changes: Changes) -> str:
    """The record's text with the identity changed; any other file's text as it is."""
    if not changes:
        return text
    if path == BENTO_RECORD:
        return bento_labels(text, changes)
    if path == MODEL_CARD:
        return card_labels(text, changes)
    if path == LOCK_FILE:
        return lock_params(text, changes)
    return text


def _md5(data: bytes) -> str:
    # What DVC 3 records for a file (`hash: md5`): the md5 of its bytes.
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


_ENTRY = re.compile(r"^(?P<indent>[ \t]*)- path: (?P<path>\S+)[ \t]*\r?$")
_FIELD = re.compile(r"^(?P<lead>[ \t]+(?P<key>md5|size): )(?P<value>\S+)(?P<rest>[ \t]*\r?)$")


def _owner(lines: list[str], index: int, indent: str) -> str | None:
    """The key of the list the entry at `index` belongs to (`outs`, `deps`)."""
    for line in reversed(lines[:index]):
        if not line.strip() or line.startswith(indent + "-") or line.startswith(indent + " "):
            continue
        match = re.match(rf"^{re.escape(indent)}([\w-]+):[ \t]*\r?$", line)
        return match.group(1) if match else None
    return None


def _entry_fields(
    lines: list[str], index: int, indent: str
) -> dict[str, tuple[int, re.Match[str]]]:
    """The `md5:` and `size:` lines of the list entry starting at `index`: key -> (line, match)."""
    found = {}
    inner = indent + "  "
    for at in range(index + 1, len(lines)):
        if not lines[at].startswith(inner) or lines[at].startswith(inner + " "):
            break
        field = _FIELD.match(lines[at])
        if field:
            found[field["key"]] = (at, field)
    return found


def relock(lock: str, rewritten: Mapping[str, tuple[bytes, bytes]]) -> str:
    """dvc.lock with the md5 and size of each output in `rewritten` (path -> (old bytes, new
    bytes)) re-recorded, where the lock held those of its old bytes. Only `outs:` entries: an
    input that changed is for DVC to report, not for the rename to hide."""
    lines = lock.split("\n")
    for index, line in enumerate(lines):
        entry = _ENTRY.match(line)
        if not entry or entry["path"] not in rewritten:
            continue
        if _owner(lines, index, entry["indent"]) != "outs":
            continue
        old, new = rewritten[entry["path"]]
        fields = _entry_fields(lines, index, entry["indent"])
        recorded = {key: match["value"] for key, (_, match) in fields.items()}
        if recorded.get("md5") != _md5(old) or recorded.get("size", str(len(old))) != str(len(old)):
            continue
        for key, value in (("md5", _md5(new)), ("size", str(len(new)))):
            if key in fields:
                at, match = fields[key]
                lines[at] = match["lead"] + value + match["rest"]
    return "\n".join(lines)
