"""The pipeline's records after `make init`: as the package stage would write them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from ml.core.identity import load_identity
from ml.forking.init_project import REBUILD_NOTE
from ml.forking.records import BENTO_RECORD, LOCK_FILE, MODEL_CARD, RECORD_FILES
from ml.pipeline.model_card import CardFacts, render
from tests.ml.forking.renaming import NEW, dvc_status, init
from tests.support.repo import UP_TO_DATE, PipelineRun, clone_repo


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

    facts = CardFacts("m", "m:1", "m:2", {}, "cpu", {}, {}, "c", "d", "e", 1, {})
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
