"""The pull-request report as markdown: sections, failures, and blocks cut to GitHub's limits."""

from __future__ import annotations

from dataclasses import dataclass, field

# GitHub refuses comments over 65,536 characters; each block is cut well below that.
BLOCK_LIMIT = 12_000
MAX_ROWS = 40


@dataclass
class Report:
    sections: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def add(self, title: str | None, body: str) -> None:
        heading = f"### {title}\n\n" if title else ""
        self.sections.append(f"{heading}{body.strip()}\n")

    def markdown(self, title: str, base: str, note: str = "") -> str:
        head = f"## {title} (against `{base}`)\n\n" + (f"{note}\n\n" if note else "")
        if self.failures:
            head += "**Failed:** " + "; ".join(self.failures) + "\n\n"
        return head + "\n".join(self.sections)


def cut(text: str, limit: int = BLOCK_LIMIT) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    return text[: limit // 2] + "\n\n[... cut ...]\n\n" + text[-limit // 2 :]


def code(text: str) -> str:
    return f"```\n{cut(text)}\n```"


def details(summary: str, body: str) -> str:
    return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>"
