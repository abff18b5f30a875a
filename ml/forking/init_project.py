"""`make init`: make this template, or a project made from it, a new project in one command.

It reads the identity the tree has now (params.yaml's `identity`, Pulumi.yaml's `name`, the stacks'
`aws:region`), checks the new one, and rewrites every place that spells the old one: keyed edits
where a key holds a value (params.yaml, Pulumi project and stack files, copier answers, CODEOWNERS,
the pipeline's records and their md5 in dvc.lock: records.py), then a sweep of every other text
file for the old project name (kebab, snake, SCREAMING and Pascal spellings) and the old
repository. Renaming twice works the same way: the old identity is whatever the tree says it is.

The rules for the new values are in ml/forking/values.py, reading the tree in tree.py, the
rewriting in rename.py. Standard library only, Python 3.9+: copier runs it as a task before any
virtualenv exists.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

from ml.core.paths import REPO_ROOT
from ml.forking.prices import ensure_prices
from ml.forking.records import RECORD_FILES
from ml.forking.rename import Rename, clashes, plan, unified_diff
from ml.forking.tree import dirty_files, read_current
from ml.forking.values import FIELD_NAMES, InitError, ProjectIdentity, problems, too_long

# A rename rewrites the records' identity; only a rebuild renews their bento tag and git commit.
REBUILD_NOTE = textwrap.fill(
    f"The pipeline's records ({', '.join(RECORD_FILES)}) now say the new identity; their bento "
    "tag and git commit still name the last build. Once the rename is committed, `make repro && "
    ".venv/bin/dvc repro --force --single-item package` packages the model as this project's: "
    "commit the records it rewrites.",
    width=96,
    break_on_hyphens=False,
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ml.forking.init_project",
        description="Rename the project: name, team, cost center, AWS region and repository.",
    )
    for field, (option, _, _) in FIELD_NAMES.items():
        helps = {
            "name": "DNS-safe project name: prefixes buckets, cluster, registries, Pulumi project",
            "team": "owning team (a Kubernetes label value)",
            "cost_center": "cost center spend is booked to (a Kubernetes label value)",
            "region": "AWS region of every stack",
            "repository": "GitHub owner/repo, trusted by the stacks' OIDC roles",
        }
        parser.add_argument(option, dest=field, required=True, help=helps[field])
    parser.add_argument("--dry-run", action="store_true", help="print the diff, write nothing")
    parser.add_argument(
        "--allow-dirty",
        action="store_true",
        help="rename even with uncommitted changes (copier's task; the diff is then mixed)",
    )
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def check_clean(root: Path) -> None:
    dirty = dirty_files(root)
    if dirty is None:
        raise InitError(
            f"{root} is not a git work tree: commit the template first so the rename is "
            "one reviewable diff (or pass --allow-dirty)"
        )
    if dirty:
        shown = ", ".join(dirty[:5]) + (" ..." if len(dirty) > 5 else "")
        raise InitError(
            f"the work tree has uncommitted changes ({shown}): commit or stash them first "
            "so the rename is one reviewable diff (or pass --allow-dirty)"
        )


def run(
    root: Path, new: ProjectIdentity, *, dry_run: bool = False, allow_dirty: bool = False
) -> tuple[ProjectIdentity, list[str]]:
    """Rename the project at `root` to `new`: (the identity it had, the files changed).

    Raises InitError, having written nothing, when an input or the tree is wrong."""
    found = problems(new)
    if found:
        raise InitError("\n".join(found))
    current = read_current(root)
    derived = [p for env in current.environments for p in too_long(new.name, env)]
    if derived:
        raise InitError(
            f"--name: {new.name!r} is too long for the names the stacks derive from it: "
            + "; ".join(derived)
        )
    if new.name not in current.names:
        taken = clashes(root, new.name)
        if taken:
            shown = ", ".join(taken[:5]) + (" ..." if len(taken) > 5 else "")
            raise InitError(
                f"--name: {new.name!r} already appears as a word in {shown}; the next rename "
                "could not tell the project's name from it, so pick a name the tree does not use"
            )
    if not dry_run and not allow_dirty:
        check_clean(root)
    rename = Rename(current, new)
    changes = plan(root, rename)
    for name, (old, text) in changes.items():
        if dry_run:
            sys.stdout.write(unified_diff(name, old, text))
        else:
            (root / name).write_bytes(text.encode("utf-8"))
    if not dry_run:
        reformat(root, [name for name in changes if name.endswith(".py")])
    return rename.old.identity, sorted(changes)


def reformat(root: Path, python_files: list[str]) -> None:
    """Let ruff re-wrap renamed Python files: a name of another length can move a line across
    the formatter's limit. Without ruff yet (before `make setup`), `make format` does it later."""
    ruff = root / ".venv" / "bin" / "ruff"
    command = str(ruff) if ruff.is_file() else shutil.which("ruff")
    if python_files and command:
        subprocess.run([command, "format", "--quiet", *python_files], cwd=root, check=False)


def _workflows_read(root: Path, expression: str) -> bool:
    """Whether a GitHub workflow reads `expression` (a setting that lives outside the tree)."""
    workflows = sorted((root / ".github" / "workflows").glob("*.y*ml"))
    return any(expression in path.read_text(encoding="utf-8") for path in workflows)


def describe(identity: ProjectIdentity) -> str:
    return ", ".join(
        f"{FIELD_NAMES[f.name][0][2:]}={getattr(identity, f.name)}" for f in fields(identity)
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Surrounding blanks are typos, not part of a name.
    new = ProjectIdentity(**{field: getattr(args, field).strip() for field in FIELD_NAMES})
    try:
        old, changed = run(
            args.root.resolve(), new, dry_run=args.dry_run, allow_dirty=args.allow_dirty
        )
    except InitError as error:
        lines = str(error).splitlines()
        print("init: nothing changed:", *lines, sep="\n  ", file=sys.stderr)
        return 2
    if not changed:
        print(f"Nothing to change: the project already is {describe(new)}.")
    elif args.dry_run:
        print(f"\n{len(changed)} files would change; nothing written (dry run).")
    else:
        print(f"Renamed {describe(old)}\n     to {describe(new)}\nin {len(changed)} files:")
        print("".join(f"  {name}\n" for name in changed), end="")
        print("Review with `git diff`, then commit.")
        if set(changed) & set(RECORD_FILES):
            print(REBUILD_NOTE)
        if old.region != new.region and _workflows_read(args.root, "vars.AWS_REGION"):
            print(f"Set the GitHub repository variable AWS_REGION to {new.region} as well.")
    if not args.dry_run:
        note = ensure_prices(args.root.resolve(), new.region)
        if note:
            print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
