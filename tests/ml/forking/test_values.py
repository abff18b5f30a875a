"""The values `make init` and copier take: the rules, and where else they are restated."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import astuple, replace
from pathlib import Path

import pytest

from ml.core.identity import IdentityError, parse_identity
from ml.forking.init_project import main
from ml.forking.tree import ENVIRONMENT_KEY, stack_files
from ml.forking.values import (
    AWS_REGIONS,
    FIELD_NAMES,
    NAME_MAX,
    NAME_MIN,
    problems,
    too_long,
)
from tests.ml.forking.renaming import (
    MAKE_VARS,
    NEW,
    OLD,
    args_for,
    copier_verdict,
    git,
    init,
    snapshot,
    with_value,
)


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
