"""`make audit`: pip-audit over the pinned constraints; a known vulnerability fails the run.

    python -m ml.ci.audit [--requirements constraints.txt] [--ignores FILE] [--osv-url URL]

pip-audit checks every pin against PyPI's vulnerability data (or OSV's with --service osv, or
an OSV-compatible --osv-url); --no-deps --disable-pip: each line is an exact pin, so nothing is
resolved or installed. An advisory is tolerated only by an entry of .github/pip-audit-ignore.yaml
naming its id (or an alias), the package, why, and optionally until when; an entry without a
reason, past its date, or for a package the file does not pin is an error. A pin the service
could not look up fails the run too: an audit that checked nothing is no pass.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from packaging.utils import canonicalize_name
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ml.core.artifacts import write_summary
from ml.core.cli import emit
from ml.core.errors import dotted_key, problems
from ml.core.paths import REPO_ROOT
from ml.core.yaml_file import ConfigFileError, load_mapping, shown

CONSTRAINTS = REPO_ROOT / "constraints.txt"
IGNORES = REPO_ROOT / ".github" / "pip-audit-ignore.yaml"
SERVICES = ("pypi", "osv")
# Required text: an empty or blank value is as good as none.
Text = Annotated[str, Field(min_length=1, pattern=r"\S")]


class AuditError(RuntimeError):
    """The audit cannot run or its ignore file is wrong; the message names what and where."""


class IgnoreEntry(BaseModel):
    """One tolerated advisory."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Text
    package: Text
    reason: Text
    until: date | None = None


class IgnoreFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ignore: list[IgnoreEntry] = []


def load_ignores(path: Path, today: date | None = None) -> list[IgnoreEntry]:
    """The file's entries; a malformed or expired one is an AuditError naming it."""
    if not path.exists():
        return []
    name = shown(path)
    raw: dict[str, Any] = {}
    try:
        raw = load_mapping(path)
        entries = IgnoreFile.model_validate(raw).ignore
    except ConfigFileError as error:
        raise AuditError(str(error)) from None
    except ValidationError as error:
        found = raw.get("ignore")
        listed: list[Any] = found if isinstance(found, list) else []

        def key(loc: Sequence[int | str]) -> str:
            # The entry's id beside its index: the one thing its author will search for.
            index = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else len(listed)
            entry = listed[index] if index < len(listed) else None
            named = f" ({entry['id']})" if isinstance(entry, dict) and entry.get("id") else ""
            return dotted_key(loc) + named

        lines = [f"{name}: {problem}" for problem in problems(error, key)]
        raise AuditError("\n".join(lines)) from None
    today = today or date.today()
    for index, entry in enumerate(entries):
        if entry.until is not None and entry.until < today:
            raise AuditError(
                f"{name}: ignore[{index}] ({entry.id}, {entry.package}) expired on "
                f"{entry.until}: upgrade {entry.package}, or renew the entry with a new reason"
            )
    return entries


@dataclass(frozen=True)
class Finding:
    package: str
    version: str
    advisory: str
    aliases: tuple[str, ...]
    fixed_in: tuple[str, ...]


@dataclass(frozen=True)
class Audit:
    findings: list[Finding]
    unaudited: dict[str, str]  # package -> why the service could not audit it
    packages: set[str]  # every package the file pins (canonical names)


def pip_audit_command(
    requirements: Path,
    output: Path,
    ignores: Sequence[IgnoreEntry],
    service: str,
    osv_url: str | None,
) -> list[str]:
    command = [sys.executable, "-m", "pip_audit", "--requirement", str(requirements)]
    command += ["--no-deps", "--disable-pip", "--format", "json", "--output", str(output)]
    command += ["--progress-spinner", "off", "--vulnerability-service", service]
    if osv_url:
        command += ["--osv-url", osv_url]
    for entry in ignores:
        command += ["--ignore-vuln", entry.id]
    return command


def parse_report(report: dict[str, Any]) -> Audit:
    """pip-audit's JSON report: its findings, and the pins it could not look up."""
    findings, unaudited, packages = [], {}, set()
    for dependency in report.get("dependencies", []):
        name = str(dependency["name"])
        packages.add(canonicalize_name(name))
        if "skip_reason" in dependency:
            unaudited[name] = str(dependency["skip_reason"])
        for vuln in dependency.get("vulns", []):
            findings.append(
                Finding(
                    package=name,
                    version=str(dependency.get("version", "")),
                    advisory=str(vuln["id"]),
                    aliases=tuple(vuln.get("aliases", [])),
                    fixed_in=tuple(vuln.get("fix_versions", [])),
                )
            )
    return Audit(findings, unaudited, packages)


def run_audit(
    requirements: Path,
    ignores: Sequence[IgnoreEntry],
    service: str = "pypi",
    osv_url: str | None = None,
) -> Audit:
    if not requirements.is_file():
        raise AuditError(f"{shown(requirements)}: no such requirements file")
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "audit.json"
        command = pip_audit_command(requirements, output, ignores, service, osv_url)
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        # pip-audit exits 1 on findings too; without a report it failed before auditing.
        if not output.is_file():
            detail = (result.stderr or result.stdout or "").strip().splitlines()[-1:] or [
                "no output"
            ]
            raise AuditError(f"pip-audit failed ({result.returncode}): {detail[0]}")
        audit = parse_report(json.loads(output.read_text(encoding="utf-8")))
    for entry in ignores:
        if canonicalize_name(entry.package) not in audit.packages:
            raise AuditError(
                f"ignore entry {entry.id} names {entry.package}, which {shown(requirements)} "
                "does not pin: drop the entry"
            )
    return audit


def table(audit: Audit) -> str:
    rows = [("package", "version", "advisory", "aliases", "fixed in")]
    for f in audit.findings:
        rows.append((f.package, f.version, f.advisory, ", ".join(f.aliases), ", ".join(f.fixed_in)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def verdict(audit: Audit, requirements: Path, ignored: int) -> tuple[int, str]:
    """The exit code and the report: findings and unaudited pins both fail."""
    name = shown(requirements)
    tolerated = f" ({ignored} ignore entries)" if ignored else ""
    lines = []
    if audit.findings:
        lines += [f"{len(audit.findings)} known vulnerabilities in {name}:", "", table(audit), ""]
        lines.append(
            "Upgrade the package (`make constraints`), or add an ignore entry with a reason."
        )
    if audit.unaudited:
        names = sorted(audit.unaudited)
        lines.append(
            f"{len(names)} of {len(audit.packages)} pins could not be audited "
            f"({', '.join(names[:5])}{' ...' if len(names) > 5 else ''}): "
            f"{audit.unaudited[names[0]]}. An audit that checked nothing is no pass: check that "
            "the service answers (PyPI's https://pypi.org/pypi/<name>/<version>/json, or "
            "--service osv)"
        )
    if lines:
        return 1, "\n".join(lines)
    return 0, f"audit: {len(audit.packages)} pins of {name}, no known vulnerabilities{tolerated}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requirements", type=Path, default=CONSTRAINTS)
    parser.add_argument("--ignores", type=Path, default=IGNORES)
    parser.add_argument("--service", choices=SERVICES, default="pypi")
    parser.add_argument("--osv-url", help="an OSV-compatible query API (implies --service osv)")
    options = parser.parse_args(argv)
    service = "osv" if options.osv_url else options.service
    try:
        ignores = load_ignores(options.ignores)
        audit = run_audit(options.requirements, ignores, service, options.osv_url)
    except AuditError as error:
        print(f"audit: {error}", file=sys.stderr)
        return 2
    code, report = verdict(audit, options.requirements, len(ignores))
    if code:
        print(report, file=sys.stderr)
        write_summary(f"### Dependency audit failed\n\n```\n{report}\n```")
    else:
        emit(report)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
