"""The README's commands work as written by a reader who has only run `make setup`."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from ml.core.paths import REPO_ROOT

README = REPO_ROOT / "README.md"
MAKEFILE = REPO_ROOT / "Makefile"
ACTIVATE = "source .venv/bin/activate"
# Programs the project installs into .venv, on a reader's PATH only once it is activated.
VENV_TOOLS = ("dvc", "bentoml", "pytest", "ruff", "pyright", "lint-imports", "zizmor")
FENCE = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", re.M | re.S)
HEADING = re.compile(r"^#{1,6} ", re.M)
# A code span: a run of backticks, then anything up to a run of the same length (CommonMark).
SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)


def sections(text: str) -> list[str]:
    """The text under each heading (fenced blocks may hold `#` lines: they are not headings)."""
    masked = FENCE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    starts = [0, *(m.start() for m in HEADING.finditer(masked)), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(starts) if b > a]


def commands(section: str) -> list[tuple[int, str]]:
    """(offset, command) of each code span and each line of a fenced block in `section`."""
    found = []
    for block in FENCE.finditer(section):
        offset = block.start(1)
        for line in block.group(1).splitlines(keepends=True):
            found.append((offset, line.strip().removeprefix("$ ")))
            offset += len(line)
    prose = FENCE.sub(lambda m: " " * len(m.group(0)), section)
    found += [(m.start(), " ".join(m.group(2).split())) for m in SPAN.finditer(prose)]
    return sorted(found)


def make_runs(makefile: Path = MAKEFILE) -> set[str]:
    """The venv tools' command lines the recipes run: `$(BIN)/dvc repro` is `dvc repro`."""
    text = makefile.read_text(encoding="utf-8")
    tools = "|".join(map(re.escape, VENV_TOOLS))
    return {m.group(1).strip() for m in re.finditer(rf"\$\(BIN\)/((?:{tools}) [^\n;|&,]*)", text)}


def bare_tool_commands(text: str, made: set[str]) -> list[str]:
    """Commands of a venv tool shown with neither the activation note before them in their
    section nor a make target that runs them."""
    bare = []
    for section in sections(text):
        for offset, command in commands(section):
            if command.split(" ", 1)[0] not in VENV_TOOLS or " " not in command:
                continue
            if ACTIVATE in section[:offset] or command in made:
                continue
            bare.append(command)
    return bare


def test_every_venv_command_in_the_readme_says_how_to_get_it() -> None:
    bare = bare_tool_commands(README.read_text(encoding="utf-8"), make_runs())
    assert bare == [], f"say `{ACTIVATE}` before these in their section (or add a make target)"


def test_the_readme_shows_dvc_commands_after_the_activation_note() -> None:
    # The check above must have something to check.
    text = README.read_text(encoding="utf-8")
    shown = [c for s in sections(text) for _, c in commands(s) if c.startswith("dvc exp run")]
    assert shown, "the README no longer shows `dvc exp run`"


@pytest.mark.parametrize(
    ("markdown", "bare"),
    [
        ("## A\n\nClean up with `dvc gc -w`.\n", ["dvc gc -w"]),
        ("## A\n\n```sh\ndvc gc -w\n```\n", ["dvc gc -w"]),
        # The note belongs to its own section only, and must come first.
        (f"## A\n\n`{ACTIVATE}`\n\n## B\n\n`dvc gc -w`\n", ["dvc gc -w"]),
        (f"## A\n\n`dvc gc -w`, after `{ACTIVATE}`\n", ["dvc gc -w"]),
        (f"## A\n\nFirst `{ACTIVATE}`, then `dvc gc -w`.\n", []),
        (f"## A\n\n```sh\n{ACTIVATE}\n# a comment\ndvc gc -w\n```\n", []),
        # A command a make target runs needs no note; the tool's name alone is no command.
        ("## A\n\n`make repro` runs `dvc repro`; `dvc` tracks data.\n", []),
        ("## A\n\n`.venv/bin/dvc gc -w`\n", []),
        ("## A\n\n``dvc gc -w``, then `` `x` ``\n", ["dvc gc -w"]),
    ],
)
def test_the_check_finds_bare_commands(markdown: str, bare: list[str]) -> None:
    assert bare_tool_commands(markdown, make_runs()) == bare


def test_make_runs_reads_the_recipes() -> None:
    assert "dvc repro" in make_runs()


def _security_section() -> str:
    text = README.read_text(encoding="utf-8")
    return text[text.index("## Security") : text.index("\n## ", text.index("## Security") + 1)]


def test_the_security_section_names_only_real_settings() -> None:
    # Every setting the section tells a fork it may change is one the settings table documents.
    section = _security_section()
    table = README.read_text(encoding="utf-8").split("<!-- config-table:start -->")[1]
    named = re.findall(r"`((?:cluster|network|storage|registry|ci|serving)\.[A-Za-z.*]+)`", section)
    assert len(named) >= 8
    for key in named:
        prefix = key.removesuffix(".*")
        assert f"`{prefix}" in table, key


def test_the_security_section_covers_the_hardening() -> None:
    section = _security_section()
    for claim in ("OIDC", "@sha256:", "flow logs", "private only", "read-only", "LimitRange"):
        assert claim in section, claim
