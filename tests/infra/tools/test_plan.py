"""`make plan`: the offline plan's text and JSON, its determinism and its errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infra.settings import ServingSettings
from infra.tools import plan
from tests.support.plans import plan_output, run_plan
from tests.support.pulumi_unit import PROJECT, REPO_ROOT


def test_json_plan_is_deterministic() -> None:
    again = run_plan("--stack", "dev", "--format", "json")
    assert again.returncode == 0, again.stderr
    assert again.stdout == plan_output("dev")


def test_text_plan_counts_types_and_draws_the_tree() -> None:
    text = plan_output("prod", "text")
    assert text.startswith(f"Offline plan of {PROJECT}/prod: pulumi up would declare")
    assert "     3  aws:ec2/natGateway:NatGateway" in text
    assert f"└─ pulumi:pulumi:Stack  {PROJECT}-prod" in text
    assert "├─ mlops:cluster:NodePool  system" in text
    assert "kubernetes:karpenter.sh/v1:NodePool  gpu-inference-od" in text
    assert 'kubeconfig: "[secret]"' in text


def test_config_reaches_the_program_as_the_cli_passes_it() -> None:
    config = {"aws:region": "us-east-1", "p:network": {"azCount": 2}, "p:flag": True}
    assert plan.cli_config(config) == {
        "aws:region": "us-east-1",
        "p:network": '{"azCount": 2}',
        "p:flag": "true",
    }


def test_unknown_stack_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan.main(["--stack", "staging"]) == 2
    error = capsys.readouterr().err
    assert "no stack file Pulumi.staging.yaml" in error and "dev, prod" in error


def test_invalid_settings_fail_the_program_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text((REPO_ROOT / "Pulumi.yaml").read_text())
    stack = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text())
    stack["config"][f"{PROJECT}:cluster"]["nodePools"][0]["instanceFamilies"] = ["c5"]
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump(stack))
    code = (
        "import sys; from pathlib import Path; from infra.tools import plan\n"
        "try:\n    plan.run('dev', Path(sys.argv[1]))\n"
        "except plan.SettingsError as e:\n    print(e); sys.exit(3)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 3, result.stderr
    assert f"{PROJECT}:cluster.nodePools[0].instanceFamilies: c5: not NVIDIA" in result.stdout


def test_a_stack_file_without_a_model_is_planned_with_the_packaged_bento(tmp_path: Path) -> None:
    config = plan.stack_config("dev")
    shipped, tag = plan.with_shipped_model(config, PROJECT)
    report = json.loads((REPO_ROOT / "reports" / "bento.json").read_text())
    assert tag == report["bento"]
    serving = shipped[f"{PROJECT}:serving"]
    version = tag.split(":", 1)[1]
    assert (serving["modelVersion"], serving["bentoTag"]) == (version, tag)
    # The stack takes images by digest only; the plan's stand-in is one, derived from the tag.
    assert serving["image"].endswith(f"/{PROJECT}-dev/bentos@{plan.stand_in_digest(tag)}")
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", plan.stand_in_digest(tag))
    assert ServingSettings.model_validate(serving).image == serving["image"]
    assert config[f"{PROJECT}:serving"]["image"] is None  # the stack file stays as it is
    # A stack that ships a model, or a repository without a packaged bento, is left alone.
    assert plan.with_shipped_model(shipped, PROJECT) == (shipped, None)
    missing = tmp_path / "bento.json"
    assert plan.with_shipped_model(config, PROJECT, missing) == (config, None)


def test_without_model_plans_the_stack_file_as_it_is() -> None:
    result = run_plan("--stack", "dev", "--format", "json", "--without-model")
    assert result.returncode == 0, result.stderr
    bare = json.loads(result.stdout)
    assert bare["model"] is None
    assert not [r for r in bare["resources"] if r["type"] == "mlops:serving:ModelServing"]
    assert "The service is planned as if" in plan_output("prod", "text")


def _stack_root(tmp_path: Path, stack_text: str) -> Path:
    (tmp_path / "Pulumi.yaml").write_text((REPO_ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.dev.yaml").write_text(stack_text)
    return tmp_path


# Runs `python -m infra.tools.plan --stack dev` with the stack files of another root.
PLAN_IN_ROOT = (
    "import functools, sys; from pathlib import Path; from infra.tools import plan\n"
    "plan.run = functools.partial(plan.run, root=Path.cwd())\n"
    "sys.exit(plan.main(['--stack', 'dev']))\n"
)


def plan_in(root: Path) -> subprocess.CompletedProcess[str]:
    """`python -m infra.tools.plan --stack dev` run on the stack files of `root`."""
    return subprocess.run(
        [sys.executable, "-c", PLAN_IN_ROOT],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_a_yaml_syntax_error_in_the_stack_file_is_one_line_saying_where(tmp_path: Path) -> None:
    lines = (REPO_ROOT / "Pulumi.dev.yaml").read_text().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.strip().startswith("aws:region:"))
    lines[index] = lines[index].rstrip("\n") + ": oops\n"  # `aws:region: us-east-1: oops`
    column = len(lines[index]) - len(": oops\n") + 1
    root = _stack_root(tmp_path, "".join(lines))

    result = plan_in(root)

    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"error: Pulumi.dev.yaml:{index + 1}:{column}: "
        "YAML syntax error: mapping values are not allowed here"
    ]


def test_a_stack_file_whose_config_is_no_mapping_is_refused(tmp_path: Path) -> None:
    root = _stack_root(tmp_path, "config:\n  - aws:region\n")
    with pytest.raises(plan.PlanError, match=r"Pulumi\.dev\.yaml: config: expected a mapping"):
        plan.stack_config("dev", root)


def test_an_unknown_region_fails_the_plan_naming_the_key(tmp_path: Path) -> None:
    stack = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text())
    stack["config"]["aws:region"] = "us-east-7"  # well-formed, but no AWS region
    root = _stack_root(tmp_path, yaml.safe_dump(stack))

    result = plan_in(root)

    assert result.returncode == 2, result.stderr
    assert "aws:region: 'us-east-7' is not an AWS region (known: " in result.stderr
    assert "Traceback" not in result.stderr
