"""`make init`: make this template, or a project made from it, a new project in one command.

It reads the identity the tree has now (params.yaml's `identity`, Pulumi.yaml's `name`, the stacks'
`aws:region`), checks the new one, and rewrites every place that spells the old one: keyed edits
where a key holds a value (params.yaml, Pulumi project and stack files, copier answers, CODEOWNERS),
then a sweep of every other text file for the old project name (kebab, snake, SCREAMING and Pascal
spellings) and the old repository. Renaming twice works the same way: the old identity is whatever
the tree says it is.

Standard library only, Python 3.9+: copier runs it as a task before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from ml.core.paths import REPO_ROOT

PARAMS_FILE = "params.yaml"
PULUMI_PROJECT_FILE = "Pulumi.yaml"
STACK_FILE = re.compile(r"^Pulumi\.[A-Za-z0-9_.-]+\.yaml$")
# Must match `_answers_file` in copier.yml.
COPIER_ANSWERS_FILE = ".copier/answers.yml"
CODEOWNERS_FILES = ("CODEOWNERS", ".github/CODEOWNERS", "docs/CODEOWNERS")

# AWS commercial partition (arn:aws): the ARNs the infra writes are only valid there.
AWS_REGIONS: tuple[str, ...] = (
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
)

# The same rules as ml/core/identity.py (which needs pydantic, absent when copier runs this);
# tests/ml/test_init_project.py checks that both accept and reject the same values.
_DNS_NAME = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
NAME_MIN, NAME_MAX = 3, 32
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
# GitHub: an owner has up to 39 alphanumerics and single inner hyphens; a repository name up
# to 100 of [A-Za-z0-9._-].
_GITHUB_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
_GITHUB_REPO = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
# S3 reserves these bucket-name prefixes; every bucket name starts with the project name.
_RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")

# infra/settings/__init__.py's Naming.too_long(), restated because infra/ needs pulumi and pydantic, which
# bare python3 lacks; tests/ml/test_init_project.py holds the two equal.
BUCKET_PURPOSES = ("dvc", "artifacts", "access-logs")
ROLE_PURPOSES = ("cluster", "node", "cluster-autoscaler", "ci-plan", "ci-deploy")
ACCOUNT_ID_LENGTH = 12
AUTONAME_SUFFIX_LENGTH = 8
ENVIRONMENT_KEY = "environment"

SKIP_DIRS = frozenset(
    {
        ".git",
        ".venv",
        ".bentoml",
        ".pulumi",
        ".pytest_cache",
        ".ruff_cache",
        "__pycache__",
        "node_modules",
    }
)
SKIP_PATHS = frozenset({".dvc/cache", ".dvc/tmp"})


class InitError(Exception):
    """The rename cannot start; the message says which input or which file is wrong."""


@dataclass(frozen=True)
class ProjectIdentity:
    """What a fork chooses: `make init` arguments and copier answers, field for field."""

    name: str
    team: str
    cost_center: str
    region: str
    repository: str


# Field -> (command-line option, copier question, params.yaml identity key).
FIELD_NAMES = {
    "name": ("--name", "project_name", "project"),
    "team": ("--team", "team", "team"),
    "cost_center": ("--cost-center", "cost_center", "cost-center"),
    "region": ("--region", "aws_region", None),
    "repository": ("--github-repo", "github_repo", "repository"),
}


# ---------------------------------------------------------------------------- validation


def too_long(project: str, environment: str) -> list[str]:
    """Names a stack of `environment` derives that would break an AWS length limit."""
    prefix = f"{project}-{environment}"
    account = "0" * ACCOUNT_ID_LENGTH
    limits = [(f"{prefix}-{p}-{account}", 63, "S3 bucket names allow") for p in BUCKET_PURPOSES]
    limits += [
        (f"{prefix}-{p}", 64 - AUTONAME_SUFFIX_LENGTH, "IAM role names (before the suffix) allow")
        for p in ROLE_PURPOSES
    ]
    return [
        f"{name!r} has {len(name)} characters, {what} {limit}"
        for name, limit, what in limits
        if len(name) > limit
    ]


def name_problem(name: str) -> str | None:
    if not _DNS_NAME.match(name) or "--" in name:
        return (
            f"{name!r} is not DNS-safe: use lowercase letters, digits and single hyphens, "
            "starting with a letter and ending with a letter or digit"
        )
    if not NAME_MIN <= len(name) <= NAME_MAX:
        return f"{name!r} has {len(name)} characters; use {NAME_MIN} to {NAME_MAX}"
    if name.startswith(_RESERVED_BUCKET_PREFIXES):
        return f"{name!r} starts with a prefix S3 reserves ({', '.join(_RESERVED_BUCKET_PREFIXES)})"
    return None


def label_problem(value: str) -> str | None:
    if not _LABEL_VALUE.match(value):
        return (
            f"{value!r} is not a valid Kubernetes label value: at most 63 letters, digits, "
            "'-', '_' or '.', starting and ending with a letter or digit"
        )
    return None


def region_problem(region: str) -> str | None:
    if region not in AWS_REGIONS:
        return f"{region!r} is not an AWS commercial region (for example us-east-1, eu-west-1)"
    return None


def repository_problem(repository: str) -> str | None:
    owner, slash, repo = repository.partition("/")
    if not slash or not _GITHUB_OWNER.match(owner):
        return (
            f"{repository!r} is not owner/repo: the owner has 1 to 39 letters, digits and "
            "single inner hyphens"
        )
    if not _GITHUB_REPO.match(repo) or repo in {".", ".."} or repo.endswith(".git"):
        return (
            f"{repository!r} is not owner/repo: the repository name has 1 to 100 letters, "
            "digits, '.', '-' or '_' (and no .git suffix)"
        )
    return None


_CHECKS = {
    "name": name_problem,
    "team": label_problem,
    "cost_center": label_problem,
    "region": region_problem,
    "repository": repository_problem,
}


def problems(identity: ProjectIdentity) -> list[str]:
    """Every invalid field, each message starting with the option that carries it."""
    found = []
    for field in fields(identity):
        value = getattr(identity, field.name)
        option = FIELD_NAMES[field.name][0]
        problem = "is required" if not value else _CHECKS[field.name](value)
        if problem:
            found.append(f"{option}: {problem}")
    return found


# ---------------------------------------------------------------------------- reading the tree

# `key: value  # comment` where a key may hold colons (`aws:region`); the value is one token.
_KEY_VALUE = re.compile(
    r"^(?P<lead>(?P<indent>[ \t]*)(?P<key>[^\s#][^#]*?):(?=[ \t]|\r?$)[ \t]*)"
    r"(?P<value>'[^']*'|\"[^\"]*\"|[^\s#'\"]+)?(?P<rest>[ \t]*(?:#.*)?\r?)$"
)
_YAML_SPECIAL = re.compile(
    r"^(?:y|n|yes|no|true|false|on|off|null|~|[-+.]?\d.*|\.(?:inf|nan))$", re.IGNORECASE
)


def yaml_scalar(value: str) -> str:
    """`value` as a YAML string: plain when YAML 1.1 would read it back as the same string."""
    if _YAML_SPECIAL.match(value) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_./-]*$", value):
        return "'" + value.replace("'", "''") + "'"
    return value


def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1].replace("''", "'") if value[0] == "'" else value[1:-1]
    return value


def section_lines(text: str, section: str) -> range:
    """Indices of the lines of the top-level YAML mapping `section:` (excluding its header)."""
    lines = text.split("\n")
    for start, line in enumerate(lines):
        if re.match(rf"^{re.escape(section)}:[ \t]*(#.*)?\r?$", line):
            end = start + 1
            while end < len(lines) and (not lines[end].strip() or lines[end][:1] in " \t#"):
                end += 1
            return range(start + 1, end)
    return range(0)


def key_lines(text: str, section: str | None = None) -> list[tuple[int, re.Match[str]]]:
    """(line index, match) of the `key: value` lines at the top level, or at the first level of
    the top-level mapping `section:`."""
    lines = text.split("\n")
    indices = section_lines(text, section) if section else range(len(lines))
    depth = None if section else 0
    found = []
    for index in indices:
        match = _KEY_VALUE.match(lines[index])
        if not match:
            continue
        depth = len(match["indent"]) if depth is None else depth
        if len(match["indent"]) == depth and match["value"] is not None:
            found.append((index, match))
    return found


def read_keys(text: str, section: str | None = None) -> dict[str, str]:
    found: dict[str, str] = {}
    for _, match in key_lines(text, section):
        found.setdefault(match["key"], unquote(match["value"]))
    return found


def set_keys(text: str, values: dict[str, str], section: str | None = None) -> str:
    """Set the value of `key: value` lines, keeping their comments and everything else."""
    lines = text.split("\n")
    for index, match in key_lines(text, section):
        new = values.get(match["key"])
        if new is not None and unquote(match["value"]) != new:
            lines[index] = match["lead"] + yaml_scalar(new) + match["rest"]
    return "\n".join(lines)


@dataclass(frozen=True)
class CurrentIdentity:
    """The identity the tree has now; a Pulumi name or stack region may disagree with params."""

    identity: ProjectIdentity
    pulumi_name: str | None
    stack_regions: tuple[str, ...]
    environments: tuple[str, ...]
    # copier's record of the name; during `copier update` it already holds the project's own.
    answered_name: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        spelled = (self.identity.name, self.pulumi_name, self.answered_name)
        return tuple(dict.fromkeys(n for n in spelled if n))


def stack_files(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("Pulumi.*.yaml") if STACK_FILE.match(p.name))


def read_current(root: Path) -> CurrentIdentity:
    params = root / PARAMS_FILE
    if not params.is_file():
        raise InitError(f"{params}: not found; run this from the project's root")
    keys = read_keys(params.read_text(encoding="utf-8"), "identity")
    missing = [k for _, _, k in FIELD_NAMES.values() if k and not keys.get(k)]
    if missing:
        raise InitError(f"{PARAMS_FILE}: identity.{missing[0]} is missing; it names the project")
    pulumi_file = root / PULUMI_PROJECT_FILE
    pulumi_name = None
    if pulumi_file.is_file():
        pulumi_name = read_keys(pulumi_file.read_text(encoding="utf-8")).get("name")
    regions, environments = [], []
    for stack in stack_files(root):
        config = read_keys(stack.read_text(encoding="utf-8"), "config")
        regions += [config["aws:region"]] if config.get("aws:region") else []
        environments += [v for k, v in config.items() if k.endswith(f":{ENVIRONMENT_KEY}")]
    identity = ProjectIdentity(
        name=keys["project"],
        team=keys["team"],
        cost_center=keys["cost-center"],
        region=regions[0] if regions else "",
        repository=keys["repository"],
    )
    answers = root / COPIER_ANSWERS_FILE
    answered = None
    if answers.is_file():
        answered = read_keys(answers.read_text(encoding="utf-8")).get(FIELD_NAMES["name"][1])
    return CurrentIdentity(
        identity,
        pulumi_name,
        tuple(dict.fromkeys(regions)),
        tuple(dict.fromkeys(environments)),
        answered,
    )


def _git(root: Path, *args: str) -> str | None:
    """git's stdout, or None when `root` is not in a git work tree (or git is missing)."""
    try:
        result = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        return None
    return result.stdout if result.returncode == 0 else None


def project_files(root: Path) -> list[str]:
    """Tracked and untracked-but-not-ignored files; every file when `root` is not in git
    (copier renders into plain folders before it commits anything)."""
    listed = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    if listed is not None:
        names = sorted({n for n in listed.split("\0") if n})
        return [n for n in names if (root / n).is_file() and not (root / n).is_symlink()]
    found = []
    for folder, dirs, files in os.walk(root):
        relative = Path(folder).relative_to(root)
        dirs[:] = [
            d
            for d in dirs
            if d not in SKIP_DIRS
            and not d.endswith(".egg-info")
            and (relative / d).as_posix() not in SKIP_PATHS
        ]
        found.extend(
            (relative / f).as_posix() for f in files if not (Path(folder) / f).is_symlink()
        )
    return sorted(found)


def dirty_files(root: Path) -> list[str] | None:
    status = _git(root, "status", "--porcelain", "--untracked-files=normal", "--", ".")
    return None if status is None else [line[3:] for line in status.splitlines() if line]


# ---------------------------------------------------------------------------- rewriting


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
        replacements = self.sweep
        if not replacements:
            return text
        return sweep_pattern(replacements).sub(lambda m: replacements[m.group(0)], text)


def read_text(path: Path) -> str | None:
    """The file as text, or None for binary files (they are left alone)."""
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


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
    return changes


def unified_diff(path: str, old: str, new: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{path}",
            tofile=f"b/{path}",
        )
    )


# ---------------------------------------------------------------------------- command line


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
        if old.region != new.region and _workflows_read(args.root, "vars.AWS_REGION"):
            print(f"Set the GitHub repository variable AWS_REGION to {new.region} as well.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
