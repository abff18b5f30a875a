"""Every offline tool that reads params.yaml or a stack file reports a broken one in one line
(`<file>:<line>:<column>: ...`) and exits 2, with no traceback."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from infra.tools import bootstrap_state, plan, urn
from infra.tools.cost import pod
from ml.core.identity import load_identity

SYNTAX_ERROR = "YAML syntax error: mapping values are not allowed here"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with a broken params.yaml and a broken Pulumi.dev.yaml, as the working dir."""
    (tmp_path / "params.yaml").write_text("identity:\n  team: a: b\n", encoding="utf-8")
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  aws:region: a: b\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    return err.strip()


def test_urn_says_where_params_is_broken(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(urn, "load_identity", partial(load_identity, root / "params.yaml"))
    assert urn.main(["model-serving", "--stack", "dev"]) == 2
    assert _one_error_line(capsys) == f"error: params.yaml:2:10: {SYNTAX_ERROR}"


def test_urn_names_a_wrong_identity_key(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (root / "params.yaml").write_text("identity: {}\n", encoding="utf-8")
    monkeypatch.setattr(urn, "load_identity", partial(load_identity, root / "params.yaml"))
    assert urn.main(["model-serving", "--stack", "dev"]) == 2
    assert _one_error_line(capsys).startswith("error: params.yaml identity.")


def test_bootstrap_says_where_the_stack_file_is_broken(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    resolve = partial(bootstrap_state.resolve_region, root=root)
    monkeypatch.setattr(bootstrap_state, "resolve_region", resolve)
    assert bootstrap_state.main(["--stack", "dev"]) == 2
    assert _one_error_line(capsys) == f"error: Pulumi.dev.yaml:2:16: {SYNTAX_ERROR}"


def test_bootstrap_says_where_params_is_broken(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The identity is read before any AWS call: no credentials or network are needed.
    identity = partial(load_identity, root / "params.yaml")
    monkeypatch.setattr(bootstrap_state, "load_identity", identity)
    assert bootstrap_state.main(["--region", "us-east-1"]) == 2
    assert _one_error_line(capsys) == f"error: params.yaml:2:10: {SYNTAX_ERROR}"


def test_pod_cost_says_where_the_stack_file_is_broken(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(pod, "stack_config", partial(plan.stack_config, root=root))
    assert pod.main(["--stack", "dev"]) == 2
    assert _one_error_line(capsys) == f"error: Pulumi.dev.yaml:2:16: {SYNTAX_ERROR}"
