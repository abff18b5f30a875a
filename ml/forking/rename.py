"""The rename itself: keyed edits where a key holds a value, then a sweep of every text file
for the old project name (kebab, snake, SCREAMING and Pascal spellings) and the old repository."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from ml.forking import records
from ml.forking.tree import (
    CODEOWNERS_FILES,
    COPIER_ANSWERS_FILE,
    PARAMS_FILE,
    PULUMI_PROJECT_FILE,
    STACK_FILE,
    CurrentIdentity,
    project_files,
    read_text,
)
from ml.forking.values import FIELD_NAMES, ProjectIdentity
from ml.forking.yaml_keys import key_lines, set_keys, unquote


def spellings(name: str) -> dict[str, str]:
    """A project name as it appears in identifiers: kebab, snake, SCREAMING_SNAKE, Pascal."""
    words = name.split("-")
    return {
        "kebab": name,
        "snake": "_".join(words),
        "screaming": "_".join(words).upper(),
        "pascal": "".join(w[:1].upper() + w[1:] for w in words),
    }


def sweep_pattern(replacements: dict[str, str]) -> re.Pattern[str]:
    """One pass over the text, longest match first, so a replacement is never replaced again.
    A name only matches as a whole word (not inside `snapp` when the name is `app`); a word
    ending in lowercase may run on into a capitalised one (`MlopsTemplateStack`)."""
    alternatives = []
    for old in sorted(replacements, key=len, reverse=True):
        after = r"(?![a-z0-9])" if old[-1:].islower() else r"(?![A-Za-z0-9])"
        alternatives.append(rf"(?<![A-Za-z0-9]){re.escape(old)}{after}")
    return re.compile("|".join(alternatives))


@dataclass(frozen=True)
class Rename:
    old: CurrentIdentity
    new: ProjectIdentity

    @property
    def sweep(self) -> dict[str, str]:
        replacements: dict[str, str] = {}
        new_spellings = spellings(self.new.name)
        for old_name in self.old.names:
            for style, spelling in spellings(old_name).items():
                if spelling != new_spellings[style]:
                    replacements[spelling] = new_spellings[style]
        if self.old.identity.repository != self.new.repository:
            replacements[self.old.identity.repository] = self.new.repository
        return replacements

    @property
    def identity_changes(self) -> dict[str, tuple[str, str]]:
        """params.yaml identity key -> (old value, new value), for the values that change."""
        changes = {}
        for field, (_, _, key) in FIELD_NAMES.items():
            old, new = getattr(self.old.identity, field), getattr(self.new, field)
            if key and old != new:
                changes[key] = (old, new)
        return changes

    def params(self, text: str) -> str:
        values = {
            key: getattr(self.new, field) for field, (_, _, key) in FIELD_NAMES.items() if key
        }
        return set_keys(text, values, "identity")

    def pulumi_project(self, text: str) -> str:
        return set_keys(text, {"name": self.new.name})

    def stack(self, text: str) -> str:
        """Every `<namespace>:...region` config key holding one of the old regions."""
        values = {
            match["key"]: self.new.region
            for _, match in key_lines(text, "config")
            if re.search(r":[\w-]*region$", match["key"], re.IGNORECASE)
            and unquote(match["value"]) in self.old.stack_regions
        }
        return set_keys(text, values, "config")

    def answers(self, text: str) -> str:
        values = {question: getattr(self.new, f) for f, (_, question, _) in FIELD_NAMES.items()}
        return set_keys(text, values)

    def codeowners(self, text: str) -> str:
        old_owner = self.old.identity.repository.split("/")[0]
        new_owner = self.new.repository.split("/")[0]
        old_handle = f"@{old_owner}/{self.old.identity.team}"
        pattern = re.compile(rf"(?<!\S){re.escape(old_handle)}(?!\S)")
        return pattern.sub(f"@{new_owner}/{self.new.team}", text)

    def rewrite(self, path: str, text: str) -> str:
        """The file's new text: its keyed edits, then the sweep of the old names."""
        if path == COPIER_ANSWERS_FILE:
            # Only the answers: `_src_path` names the template this project came from.
            return self.answers(text)
        if path == PARAMS_FILE:
            text = self.params(text)
        elif path == PULUMI_PROJECT_FILE:
            text = self.pulumi_project(text)
        elif "/" not in path and STACK_FILE.match(path):
            text = self.stack(text)
        elif path in CODEOWNERS_FILES:
            text = self.codeowners(text)
        elif path in records.RECORD_FILES:
            text = records.rewrite(path, text, self.identity_changes)
        replacements = self.sweep
        if not replacements:
            return text
        return sweep_pattern(replacements).sub(lambda m: replacements[m.group(0)], text)


def clashes(root: Path, name: str) -> list[str]:
    """Files that already spell `name` as a word: a later rename could not tell it apart."""
    pattern = sweep_pattern(dict.fromkeys(spellings(name).values(), ""))
    found = []
    for path in project_files(root):
        text = read_text(root / path)
        if path != COPIER_ANSWERS_FILE and text is not None and pattern.search(text):
            found.append(path)
    return found


def plan(root: Path, rename: Rename) -> dict[str, tuple[str, str]]:
    """path -> (old text, new text) for every file the rename changes."""
    changes = {}
    for name in project_files(root):
        text = read_text(root / name)
        if text is None:
            continue
        new = rename.rewrite(name, text)
        if new != text:
            changes[name] = (text, new)
    relock(root, changes)
    return changes


def relock(root: Path, changes: dict[str, tuple[str, str]]) -> None:
    """Re-record in dvc.lock the md5 and size of the outputs the rename rewrote."""
    lock = records.LOCK_FILE
    if lock in changes:
        original, text = changes[lock]
    elif (root / lock).is_file():
        original = text = read_text(root / lock) or ""
    else:
        return
    rewritten = {
        name: (old.encode("utf-8"), new.encode("utf-8"))
        for name, (old, new) in changes.items()
        if name != lock
    }
    text = records.relock(text, rewritten)
    if text != original:
        changes[lock] = (original, text)


def unified_diff(path: str, old: str, new: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{path}",
            tofile=f"b/{path}",
        )
    )
