"""`make init` and copier turn a copy of this repository into another project.

Each test works on a git repository made from this tree's files in a temporary folder; the
identity it renames from is read from the tree (never written here), so the suite passes in forks.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import astuple, replace
from pathlib import Path

import pytest
import yaml
from jinja2.sandbox import SandboxedEnvironment

from ml.core.identity import IdentityError, load_identity, parse_identity
from ml.core.paths import REPO_ROOT
from ml.forking.init_project import REBUILD_NOTE, main
from ml.forking.prices import CREDENTIAL_VARIABLES, PRICE_TABLE, has_credentials, has_prices
from ml.forking.records import BENTO_RECORD, LOCK_FILE, MODEL_CARD, RECORD_FILES
from ml.forking.rename import spellings, sweep_pattern
from ml.forking.tree import COPIER_ANSWERS_FILE, ENVIRONMENT_KEY, read_current, stack_files
from ml.forking.values import (
    AWS_REGIONS,
    FIELD_NAMES,
    NAME_MAX,
    NAME_MIN,
    ProjectIdentity,
    problems,
    too_long,
)
from ml.pipeline.model_card import CardFacts, render
from tests.support.repo import UP_TO_DATE, PipelineRun, clone_repo, tool_env

CURRENT = read_current(REPO_ROOT)
OLD = CURRENT.identity
# The names are joined at run time: spelled out here, they would be words of the tree, which
# init refuses as new names (a later rename could not tell them apart).
CANDIDATES = (
    ProjectIdentity(
        "-".join(("churn", "forecast")), "growth", "cc-4242", "eu-west-1", "example-org/churn"
    ),
    ProjectIdentity(
        "-".join(("basket", "ranker")), "retail", "4711", "ap-southeast-2", "shop-co/ranking"
    ),
    ProjectIdentity(
        "-".join(("fleet", "telemetry")), "ops.data", "OPS_77", "ca-central-1", "fleet/telemetry"
    ),
)


def unlike(*others: ProjectIdentity) -> ProjectIdentity:
    """A candidate sharing no value (nor a name inside another) with `others`: this tree may
    itself be a fork named like one of them."""

    def apart(a: ProjectIdentity, b: ProjectIdentity) -> bool:
        return all(x not in y and y not in x for x, y in zip(astuple(a), astuple(b), strict=True))

    return next(c for c in CANDIDATES if all(apart(c, other) for other in others))


NEW = unlike(OLD)
NEWER = unlike(OLD, NEW)
# `make init` variables, in ProjectIdentity's field order.
MAKE_VARS = ("NAME", "TEAM", "COST_CENTER", "REGION", "GITHUB_REPO")
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
GIT += ["-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"]


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        [*GIT, *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout


def tree_files(root: Path) -> list[str]:
    listed = git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    return sorted(n for n in set(listed.split("\0")) if n and (root / n).is_file())


def args_for(identity: ProjectIdentity) -> list[str]:
    """`--option=value` for each field (so a value may start with a hyphen)."""
    return [f"{option}={getattr(identity, field)}" for field, (option, _, _) in FIELD_NAMES.items()]


def init(root: Path, identity: ProjectIdentity, *extra: str) -> int:
    return main([*args_for(identity), "--root", str(root), *extra])


def snapshot(root: Path) -> dict[str, bytes]:
    return {n: (root / n).read_bytes() for n in tree_files(root)}


def old_spellings(identity: ProjectIdentity) -> list[str]:
    return [*spellings(identity.name).values(), identity.repository]


def stale(root: Path, identity: ProjectIdentity) -> list[str]:
    """`file: spelling` for every file that still spells the given identity's name or repo."""
    found = []
    for name in tree_files(root):
        text = (root / name).read_bytes().decode("utf-8", errors="replace")
        found += [f"{name}: {s}" for s in old_spellings(identity) if s in text]
    return found


@pytest.fixture(scope="module", autouse=True)
def no_aws_credentials(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No init here fetches prices for real: it finds no AWS credentials unless a test adds some."""
    nowhere = tmp_path_factory.mktemp("no-aws")
    with pytest.MonkeyPatch.context() as patch:
        for name in CREDENTIAL_VARIABLES:
            patch.delenv(name, raising=False)
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(nowhere / "credentials"))
        patch.setenv("AWS_CONFIG_FILE", str(nowhere / "config"))
        yield


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This tree's tracked and untracked-not-ignored files, committed in a fresh repository."""
    root = tmp_path_factory.mktemp("template")
    for name in tree_files(REPO_ROOT):
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, target)
    git(root, "init", "--quiet")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "--message", "template")
    return root


@pytest.fixture
def project(template: Path, tmp_path: Path) -> Path:
    """A private copy of the template repository that a test may change."""
    root = tmp_path / "project"
    shutil.copytree(template, root, symlinks=True)
    return root


@pytest.fixture(scope="module")
def renamed(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template renamed to NEW by `make init`, committed."""
    root = tmp_path_factory.mktemp("renamed") / "project"
    shutil.copytree(template, root, symlinks=True)
    assert init(root, NEW) == 0
    git(root, "commit", "--quiet", "--all", "--message", "init")
    return root


def test_init_leaves_no_trace_of_the_old_name(renamed: Path) -> None:
    assert stale(renamed, OLD) == []


def git_grep(root: Path, value: str) -> set[str]:
    """The committed files that hold `value`, in any case (`git grep -i`)."""
    found = subprocess.run(
        ["git", "grep", "-i", "-l", "-F", "-e", value], cwd=root, capture_output=True, text=True
    )
    assert found.returncode in (0, 1), found.stderr
    return set(found.stdout.split())


def keyed(value: str) -> re.Pattern[str]:
    """`value` where a team or cost-center key holds it (YAML, JSON, a Markdown table row)."""
    return re.compile(
        rf"(?i)\b(?:team|cost[-_]?center)\b[\\\"' \t:=|]+{re.escape(value)}(?![\w.-])"
    )


def test_no_committed_file_names_the_old_project(renamed: Path) -> None:
    for value in old_spellings(OLD):
        assert git_grep(renamed, value) == set(), value


def test_no_committed_file_keeps_the_old_team_or_cost_center(template: Path, renamed: Path) -> None:
    """params.yaml and the pipeline's records (dvc.lock, bento.json, the model card) say the new
    labels. Under tests/ hand-written fixtures and example addresses keep theirs: no code reads
    them as the project's. Elsewhere the value may stay only as an unrelated word the tree
    already had (a fork's team may be a common word; in the template there is none)."""
    for value in (OLD.team, OLD.cost_center):
        before = {f for f in git_grep(template, value) if not f.startswith("tests/")}
        carried = {f for f in before if keyed(value).search((template / f).read_text())}
        assert {"params.yaml", *RECORD_FILES} <= carried, value
        after = {f for f in git_grep(renamed, value) if not f.startswith("tests/")}
        assert after <= before - carried, value


def test_init_writes_the_records_as_the_package_stage_would(template: Path, renamed: Path) -> None:
    """The labels and cost table the package stage writes from the new params; dvc.lock with the
    new identity params and the md5 and size of the rewritten records."""
    labels = load_identity(renamed / "params.yaml").cost_labels()
    record = json.loads((template / BENTO_RECORD).read_text())
    record["labels"] = dict(sorted({**record["labels"], **labels}.items()))
    assert (renamed / BENTO_RECORD).read_text() == json.dumps(record, indent=2) + "\n"

    def changed_rows(old: str, new: str) -> list[tuple[str, str]]:
        pairs = zip(old.splitlines(), new.splitlines(), strict=True)
        return [(a, b) for a, b in pairs if a != b]

    facts = CardFacts("m", "m:1", "m:2", {}, {}, {}, "c", "d", "e", 1, {})
    old_labels = load_identity(template / "params.yaml").cost_labels()
    rendered = changed_rows(
        render(replace(facts, cost_labels=old_labels)), render(replace(facts, cost_labels=labels))
    )
    assert len(rendered) == 3
    old_card, new_card = ((root / MODEL_CARD).read_text() for root in (template, renamed))
    assert changed_rows(old_card, new_card) == rendered

    lock = yaml.safe_load((template / LOCK_FILE).read_text())
    identity = yaml.safe_load((renamed / "params.yaml").read_text())["identity"]
    for stage in lock["stages"].values():
        if "identity" in stage.get("params", {}).get("params.yaml", {}):
            stage["params"]["params.yaml"]["identity"] = identity
        for out in stage.get("outs", []):
            if out["path"] in (BENTO_RECORD, MODEL_CARD):
                data = (renamed / out["path"]).read_bytes()
                out.update(md5=hashlib.md5(data).hexdigest(), size=len(data))
    assert yaml.safe_load((renamed / LOCK_FILE).read_text()) == lock


def dvc_status(root: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "dvc", "status", "--json"],
        cwd=root,
        env=tool_env(root),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def test_dvc_sees_init_change_no_stage(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Whatever `dvc status` says of a copy (its data and model are not in it), it says the
    same after the rename: no params, output or record of a stage is out of date because of it."""
    before = dvc_status(project)
    assert init(project, NEW) == 0
    assert dvc_status(project) == before
    # What a rewrite cannot renew (the bento tag, the git commit) is left to a rebuild, said so.
    assert REBUILD_NOTE in capsys.readouterr().out


@pytest.mark.slow
def test_a_rebuild_after_init_writes_the_same_records(
    pipeline_run: PipelineRun, tmp_path: Path
) -> None:
    """In a built copy: after the rename the pipeline is up to date, and packaging the model
    again once the rename is committed changes only the bento tag and the git commit."""
    repo = clone_repo(pipeline_run.repo, tmp_path / "repo")
    assert init(repo.root, NEW) == 0
    assert UP_TO_DATE in repo.dvc("status").stdout
    repo.commit("init")
    renamed = {name: repo.read(name).decode() for name in RECORD_FILES}
    repo.dvc("repro", "--force", "--single-item", "package")
    rebuilt = {name: repo.read(name).decode() for name in RECORD_FILES}
    old, new = (json.loads(records[BENTO_RECORD]) for records in (renamed, rebuilt))
    assert new["labels"]["git-commit"] == repo.git("rev-parse", "HEAD").stdout.strip()
    assert new["bento"] != old["bento"]
    for name in (BENTO_RECORD, MODEL_CARD):
        text = renamed[name].replace(old["bento"], new["bento"])
        assert (
            text.replace(old["labels"]["git-commit"], new["labels"]["git-commit"]) == rebuilt[name]
        )
    locks = [yaml.safe_load(records[LOCK_FILE]) for records in (renamed, rebuilt)]
    for lock in locks:
        for out in lock["stages"]["package"]["outs"]:
            out.pop("md5")
            out.pop("size")
    assert locks[0] == locks[1]


def test_init_writes_the_new_identity_to_params(renamed: Path) -> None:
    identity = load_identity(renamed / "params.yaml")
    assert (identity.project, identity.team, identity.cost_center, identity.repository) == (
        NEW.name,
        NEW.team,
        NEW.cost_center,
        NEW.repository,
    )
    assert identity.environment == load_identity(REPO_ROOT / "params.yaml").environment


def test_init_renames_the_pulumi_project_and_its_stacks(renamed: Path) -> None:
    assert yaml.safe_load((renamed / "Pulumi.yaml").read_text())["name"] == NEW.name
    stacks = stack_files(renamed)
    assert stacks, "no Pulumi.<stack>.yaml to rename"
    for stack in stacks:
        config = yaml.safe_load(stack.read_text())["config"]
        assert config["aws:region"] == NEW.region
        namespaces = {key.split(":")[0] for key in config}
        assert OLD.name not in namespaces
        assert NEW.name in namespaces
        # Every value that named the old repository (the OIDC trust) names the new one.
        assert OLD.repository not in json.dumps(config)


def test_init_renames_the_python_distribution(renamed: Path) -> None:
    pyproject = tomllib.loads((renamed / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == NEW.name


def test_init_edits_values_only(renamed: Path) -> None:
    """Comments, order and the other sections of params.yaml survive the rename."""
    before = (REPO_ROOT / "params.yaml").read_text().splitlines()
    after = (renamed / "params.yaml").read_text().splitlines()
    assert len(after) == len(before)
    changed = [(b, a) for b, a in zip(before, after, strict=True) if a != b]
    assert {b.split(":")[0].strip() for b, _ in changed} == {
        "project",
        "team",
        "cost-center",
        "repository",
    }


def test_the_sweep_replaces_whole_words_in_every_spelling() -> None:
    renames = {"app": "shop", "APP": "SHOP", "TwoWords": "NewName", "two-words": "new-name"}
    pattern = sweep_pattern(renames)
    text = "app apps snapp app-dev APP_KEY two-words-dev TwoWordsStack TwoWordsy"
    assert pattern.sub(lambda m: renames[m[0]], text) == (
        "shop apps snapp shop-dev SHOP_KEY new-name-dev NewNameStack TwoWordsy"
    )


def test_second_init_with_the_same_values_changes_nothing(
    renamed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(renamed)
    assert init(renamed, NEW) == 0
    assert "Nothing to change" in capsys.readouterr().out
    assert snapshot(renamed) == before


def test_init_renames_from_the_identity_the_tree_has_now(renamed: Path, tmp_path: Path) -> None:
    root = tmp_path / "project"
    shutil.copytree(renamed, root, symlinks=True)
    assert init(root, NEWER) == 0
    assert stale(root, NEW) == []
    assert stale(root, OLD) == []
    identity = load_identity(root / "params.yaml")
    assert (identity.project, identity.cost_center) == (NEWER.name, NEWER.cost_center)
    assert read_current(root).identity == NEWER


def test_dry_run_prints_a_diff_and_writes_nothing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(project)
    assert init(project, NEW, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "--- a/params.yaml\n+++ b/params.yaml\n" in out
    assert f"\n-  project: {OLD.name}\n" in out
    assert f"\n+  project: {NEW.name}\n" in out
    assert "nothing written" in out
    assert snapshot(project) == before


def test_a_dirty_tree_is_refused_and_left_alone(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = project / "params.yaml"
    params.write_text(params.read_text() + "\n# work in progress\n")
    before = snapshot(project)
    assert init(project, NEW) == 2
    assert "uncommitted changes (params.yaml)" in capsys.readouterr().err
    assert snapshot(project) == before
    assert init(project, NEW, "--allow-dirty") == 0
    assert stale(project, OLD) == []


def test_make_init_needs_every_value_on_the_command_line(template: Path) -> None:
    values = [f"{name}={value}" for name, value in zip(MAKE_VARS, astuple(NEW), strict=True)]
    dry = subprocess.run(
        ["make", "--no-print-directory", "init", *values, "DRY_RUN=1"],
        cwd=template,
        capture_output=True,
        text=True,
    )
    assert dry.returncode == 0, dry.stderr
    assert "+++ b/params.yaml" in dry.stdout
    # NAME from the environment (WSL sets it to the host name) does not count.
    missing = subprocess.run(
        ["make", "--no-print-directory", "init", *values[1:]],
        cwd=template,
        env={**os.environ, "NAME": NEW.name},
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2
    assert "usage: make init" in missing.stderr
    assert "NAME is missing" in missing.stderr
    assert git(template, "status", "--porcelain") == ""


INVALID = [
    ("--name", "Churn", "not DNS-safe"),
    ("--name", "demand_model", "not DNS-safe"),
    ("--name", "9lives", "not DNS-safe"),
    ("--name", "churn--forecast", "not DNS-safe"),
    ("--name", "churn-", "not DNS-safe"),
    ("--name", "ab", "use 3 to 32"),
    ("--name", "a" * 33, "use 3 to 32"),
    ("--name", "sthree-models", "prefix S3 reserves"),
    # ml/core/identity.py and its users say "identity": a later rename would rewrite them too.
    ("--name", "identity", "already appears as a word in"),
    ("--team", "growth analytics", "not a valid Kubernetes label value"),
    ("--team", "t" * 64, "not a valid Kubernetes label value"),
    ("--cost-center", "cc/4242", "not a valid Kubernetes label value"),
    ("--cost-center", "", "is required"),
    ("--region", "eu-west-9", "not an AWS commercial region"),
    ("--region", "cn-north-1", "not an AWS commercial region"),
    ("--github-repo", "no-slash", "not owner/repo"),
    ("--github-repo", "-org/churn", "not owner/repo"),
    ("--github-repo", "org/churn.git", "not owner/repo"),
    ("--github-repo", "org/churn/extra", "not owner/repo"),
]


@pytest.mark.parametrize(("option", "value", "problem"), INVALID)
def test_invalid_input_is_named_and_nothing_changes(
    template: Path, option: str, value: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a if not a.startswith(f"{option}=") else f"{option}={value}" for a in args_for(NEW)]
    before = snapshot(template)
    assert main([*argv, "--root", str(template)]) == 2
    err = capsys.readouterr().err
    assert f"{option}: " in err
    assert problem in err
    assert snapshot(template) == before


@pytest.mark.parametrize("environment", ["dev", "prod", "staging", "e" * 16])
def test_name_limits_mirror_the_stack_naming(environment: str) -> None:
    from infra.settings import Naming

    for length in range(NAME_MIN, 40):
        name = "n" * length
        assert too_long(name, environment) == Naming(name, environment).too_long()


def test_a_name_too_long_for_a_stack_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A longer environment leaves less room for the name in bucket and role names."""
    stack = stack_files(project)[0]
    key = f"{OLD.name}:{ENVIRONMENT_KEY}"
    text = re.sub(rf"(?m)^(\s*{re.escape(key)}:).*$", r"\1 production-eu", stack.read_text())
    stack.write_text(text)
    git(project, "commit", "--quiet", "--all", "--message", "a longer environment")
    before = snapshot(project)
    name = "n" * NAME_MAX
    assert init(project, replace(NEW, name=name)) == 2
    err = capsys.readouterr().err
    assert f"--name: {name!r} is too long" in err
    assert "IAM role names" in err
    assert snapshot(project) == before


# Values for the rules that ml/core/identity.py and copier.yml both restate.
SAMPLES = {
    "name": ["demand-model", "abc", "a" * 32, "a" * 33, "Churn", "churn--x", "x-", "1x", "xn--a"],
    "team": ["growth", "Growth_Team.1", "t" * 63, "t" * 64, "-x", "a b", "x/y", ""],
    "repository": [
        "example-org/churn",
        "a/b",
        "o" * 39 + "/r",
        "o" * 40 + "/r",
        "-org/r",
        "org-/r",
        "or--g/r",
        "org/r.git",
        "org/..",
        "org",
        "org/a/b",
    ],
}


def with_value(field: str, value: str) -> ProjectIdentity:
    return replace(NEW, **{field: value})


@pytest.mark.parametrize(
    ("field", "value"), [(f, v) for f, values in SAMPLES.items() for v in values]
)
def test_what_init_accepts_the_identity_model_accepts(field: str, value: str) -> None:
    identity = with_value(field, value)
    accepted = not problems(identity)
    raw = {
        "project": identity.name,
        "team": identity.team,
        "cost-center": identity.cost_center,
        "repository": identity.repository,
        "environment": "dev",
    }
    if accepted:
        parse_identity(raw)
    elif field != "repository":
        # For names and labels the two agree exactly (GitHub's owner rules are init's alone).
        with pytest.raises(IdentityError):
            parse_identity(raw)


def test_the_region_list_is_the_aws_partition() -> None:
    import botocore.session

    regions = botocore.session.get_session().get_available_regions("s3", "aws")
    assert sorted(AWS_REGIONS) == sorted(regions)


def test_the_rename_runs_without_installed_packages() -> None:
    """copier runs it with bare python3: no module of ml/forking may need a third-party package."""
    modules = sorted(f"ml.forking.{path.stem}" for path in (REPO_ROOT / "ml/forking").glob("*.py"))
    # -S: no site-packages, so an import of anything outside the standard library fails.
    check = f"import {', '.join(modules)}"
    result = subprocess.run(
        [sys.executable, "-S", "-c", check], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "ml.forking.init_project" in modules


COPIER = yaml.safe_load((REPO_ROOT / "copier.yml").read_text())
ANSWERS_TEMPLATE = REPO_ROOT / (COPIER_ANSWERS_FILE + COPIER["_templates_suffix"])
# copier renders the answers template away: a project it made is no template for these tests.
copier_template_only = pytest.mark.skipif(
    not ANSWERS_TEMPLATE.is_file(), reason="a project made by copier holds no answers template"
)
# The Jinja environment copier renders questions with.
JINJA = SandboxedEnvironment(extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"])


def copier_verdict(question: str, value: str) -> bool:
    return not JINJA.from_string(COPIER[question]["validator"]).render({question: value}).strip()


@pytest.mark.parametrize(
    ("field", "value"), [(f, v) for f, values in SAMPLES.items() for v in values if v]
)
def test_copier_validators_mirror_init(field: str, value: str) -> None:
    question = FIELD_NAMES[field][1]
    assert copier_verdict(question, value) == (not problems(with_value(field, value)))
    if field == "team":
        assert copier_verdict("cost_center", value) == (
            not problems(with_value("cost_center", value))
        )


def test_copier_asks_what_init_takes() -> None:
    assert COPIER["_answers_file"] == COPIER_ANSWERS_FILE
    assert COPIER["aws_region"]["choices"] == list(AWS_REGIONS)
    (task,) = COPIER["_tasks"]
    command = task["command"]
    assert command[1:3] == ["-m", "ml.forking.init_project"]
    for option, question, _ in FIELD_NAMES.values():
        assert command[command.index(option) + 1] == f"{{{{ {question} }}}}"
    assert ANSWERS_TEMPLATE.is_file() or (REPO_ROOT / COPIER_ANSWERS_FILE).is_file()


def test_copier_proposes_a_valid_name_from_the_folder() -> None:
    default = JINJA.from_string(COPIER["project_name"]["default"])
    name = default.render(_folder_name="2 Churn_Model (copy)")
    assert name == "churn-model-copy"
    assert problems(with_value("name", name)) == []


def copier_data(identity: ProjectIdentity) -> dict[str, str]:
    return {question: getattr(identity, field) for field, (_, question, _) in FIELD_NAMES.items()}


@pytest.mark.slow
@copier_template_only
def test_copier_copy_then_update(template: Path, tmp_path: Path) -> None:
    """The ecosystem way: copier copies and renames, and later template changes arrive renamed."""
    from copier import run_copy, run_update

    destination = tmp_path / "made"
    run_copy(
        str(template), destination, data=copier_data(NEW), defaults=True, unsafe=True, quiet=True
    )
    git(destination, "init", "--quiet")
    git(destination, "add", "--all")
    git(destination, "commit", "--quiet", "--message", "start")
    assert stale(destination, OLD) == []
    assert load_identity(destination / "params.yaml").project == NEW.name
    answers = yaml.safe_load((destination / COPIER_ANSWERS_FILE).read_text())
    assert answers["_src_path"] == str(template)
    assert {k: answers[k] for k in copier_data(NEW)} == copier_data(NEW)

    # The template moves on: a new setting spelled with the template's own name.
    clone = tmp_path / "template-next"
    shutil.copytree(template, clone, symlinks=True)
    with (clone / "Pulumi.yaml").open("a") as file:
        file.write(f"# Dashboards: {OLD.name}-dashboards\n")
    git(clone, "add", "--all")
    git(clone, "commit", "--quiet", "--message", "dashboards")
    answers_text = (destination / COPIER_ANSWERS_FILE).read_text()
    (destination / COPIER_ANSWERS_FILE).write_text(answers_text.replace(str(template), str(clone)))
    git(destination, "commit", "--quiet", "--all", "--message", "follow the moved template")
    run_update(
        destination,
        answers_file=COPIER_ANSWERS_FILE,
        defaults=True,
        overwrite=True,
        unsafe=True,
        quiet=True,
    )
    changed = git(destination, "status", "--porcelain").split("\n")
    assert " M Pulumi.yaml" in changed
    assert f"# Dashboards: {NEW.name}-dashboards" in (destination / "Pulumi.yaml").read_text()
    assert stale(destination, OLD) == []

    # Renamed again by `make init`, the answers follow, so the next update renders the new name.
    git(destination, "commit", "--quiet", "--all", "--message", "update")
    assert init(destination, NEWER) == 0
    answers = yaml.safe_load((destination / COPIER_ANSWERS_FILE).read_text())
    assert {k: answers[k] for k in copier_data(NEWER)} == copier_data(NEWER)
    assert answers["_src_path"] == str(clone)


@pytest.mark.slow
@copier_template_only
def test_copier_rejects_an_invalid_answer(template: Path, tmp_path: Path) -> None:
    from copier import run_copy

    data = {**copier_data(NEW), "project_name": "Churn"}
    with pytest.raises(ValueError, match=r"project_name.*lowercase letters"):
        run_copy(
            str(template), tmp_path / "made", data=data, defaults=True, unsafe=True, quiet=True
        )
    assert not (tmp_path / "made").exists()


@pytest.mark.slow
def test_the_renamed_project_plans_and_tests_green(renamed: Path) -> None:
    """The renamed copy's own code, not this tree's, plans the stack and passes its tests."""
    env = {**os.environ, "PYTHONPATH": str(renamed)}
    env.pop("BENTOML_HOME", None)
    if (renamed / "infra" / "tools" / "plan.py").is_file():
        plan = subprocess.run(
            [sys.executable, "-m", "infra.tools.plan", "--stack", "dev", "--format", "json"],
            cwd=renamed,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        text = plan.stdout
        assert OLD.name not in text
        assert OLD.repository not in text
        resources = json.loads(text)["resources"]
        (provider,) = [r["inputs"] for r in resources if r["type"] == "pulumi:providers:aws"]
        assert provider["region"] == NEW.region
        tags = json.loads(provider["defaultTags"])["tags"]
        assert {k: tags[k] for k in ("project", "team", "cost-center", "repository")} == {
            "project": NEW.name,
            "team": NEW.team,
            "cost-center": NEW.cost_center,
            "repository": NEW.repository,
        }
        buckets = [r["inputs"]["bucket"] for r in resources if r["type"] == "aws:s3/bucket:Bucket"]
        assert buckets
        assert all(b.startswith(f"{NEW.name}-dev-") for b in buckets)
        # GitHub's OIDC tokens of the new repository, and only those, may assume the CI roles.
        assert f"repo:{NEW.repository}:" in text
    # Fast tests that read the identity: this file (the fork can be renamed again) and the
    # budget's names; the full suite runs in the fork's own CI.
    subset = [str(Path(__file__).relative_to(REPO_ROOT)), "tests/infra/components/test_budget.py"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow", *subset],
        cwd=renamed,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert re.search(r"\d+ passed", result.stdout)


# --- The new region's prices (`make prices`) ---------------------------------------------------


def priced_regions(root: Path) -> set[str]:
    return set(yaml.safe_load((root / PRICE_TABLE).read_text())["regions"])


def unpriced(root: Path) -> ProjectIdentity:
    """NEW, moved to a region the price table has no prices for."""
    region = next(r for r in AWS_REGIONS if r not in priced_regions(root) | {OLD.region})
    return replace(NEW, region=region)


def no_prices(region: str) -> str:
    return (
        f"No prices for {region} yet: run `make prices REGION={region}` with AWS credentials "
        "before `make cost`.\n"
    )


@pytest.fixture
def fake_make(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `make` first on PATH that records where it ran and its arguments, and fails when
    FAKE_MAKE_FAILS is set; else it adds the region it was given to the price table, as
    `make prices` would. Returns the record file (absent while `make` never ran)."""
    record, script = tmp_path / "make-calls", tmp_path / "bin" / "make"
    script.parent.mkdir()
    script.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$(pwd -P)" "$@" >> "{record}"\n'
        'if [ -n "${FAKE_MAKE_FAILS:-}" ]; then exit 2; fi\n'
        f'printf "\\n  %s: {{}}\\n" "${{2#REGION=}}" >> "{PRICE_TABLE}"\n'
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    return record


def test_init_fetches_the_prices_of_a_region_the_table_lacks(
    project: Path, fake_make: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    new = unpriced(project)
    assert init(project, new) == 0
    assert fake_make.read_text().splitlines() == [
        str(project.resolve()), "prices", f"REGION={new.region}",
    ]  # fmt: skip
    assert new.region in priced_regions(project)
    assert "No prices for" not in capsys.readouterr().out


@pytest.mark.parametrize("credentials", ["fail", "none"])
def test_init_says_how_to_fetch_prices_it_could_not_fetch(
    project: Path, fake_make: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], credentials: str,
) -> None:  # fmt: skip
    if credentials == "fail":
        monkeypatch.setenv("AWS_PROFILE", "default")
        monkeypatch.setenv("FAKE_MAKE_FAILS", "1")
    new = unpriced(project)
    assert init(project, new) == 0
    assert capsys.readouterr().out.endswith(no_prices(new.region))
    assert fake_make.is_file() == (credentials == "fail")
    assert new.region not in priced_regions(project)


def test_init_leaves_the_prices_alone_when_the_table_has_the_region(
    project: Path, fake_make: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    new = unpriced(project)
    assert init(project, new, "--dry-run") == 0  # a dry run fetches nothing either
    assert init(project, replace(new, region=sorted(priced_regions(project))[0])) == 0
    assert not fake_make.exists()
    assert "No prices for" not in capsys.readouterr().out


def test_credentials_are_looked_for_where_boto3_looks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert not has_credentials({})
    assert has_credentials({"AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token"})
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "config").write_text("[default]\nregion = eu-west-1\n")
    assert has_credentials({})
    assert not has_credentials({"AWS_CONFIG_FILE": str(tmp_path / "elsewhere")})


def test_only_a_key_under_regions_counts_as_prices() -> None:
    table = "# eu-west-2: not yet\nsource: x\nregions:\n  us-east-1:\n    a: 1\n  eu-west-1: {}\n"
    assert has_prices(table, "us-east-1") and has_prices(table, "eu-west-1")
    assert not has_prices(table, "eu-west-2")
    assert not has_prices(table + "usage:\n  eu-west-2: 1\n", "eu-west-2")
