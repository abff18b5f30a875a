"""`make bento-archive` / `make bento-import`: one bento and its records, from job to job."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ml.ci.bento import RECORDS, import_
from ml.core.artifacts import ShipError
from tests.support.tiny_bento import bentoml_env, build_tiny_bento


def _call(function: str, folder: Path, root: Path, home: Path) -> subprocess.CompletedProcess:
    code = (
        "import sys; from pathlib import Path; from ml.ci.bento import export, import_; "
        f"print({function}(Path(sys.argv[1]), root=Path(sys.argv[2])))"
    )
    return subprocess.run(
        [sys.executable, "-c", code, str(folder), str(root)],
        env=bentoml_env(home),
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_bento_travels_with_its_records(tmp_path: Path) -> None:
    build_home, ship_home = tmp_path / "build-home", tmp_path / "ship-home"
    tag = build_tiny_bento(tmp_path, build_home)
    build_root, ship_root, folder = tmp_path / "build", tmp_path / "ship", tmp_path / "artifact"
    contents = {
        "reports/bento.json": json.dumps({"bento": tag, "model": "echo-model:1", "labels": {}}),
        "reports/metrics.json": json.dumps({"accuracy": 0.97}),
        "dvc.lock": "schema: '2.0'\nstages: {}\n",
    }
    assert sorted(contents) == sorted(str(r) for r in RECORDS)
    for name, text in contents.items():
        (build_root / name).parent.mkdir(parents=True, exist_ok=True)
        (build_root / name).write_text(text, encoding="utf-8")

    exported = _call("export", folder, build_root, build_home)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.strip() == tag
    assert len(list(folder.glob("*.bento"))) == 1

    imported = _call("import_", folder, ship_root, ship_home)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == tag
    for name, text in contents.items():
        assert (ship_root / name).read_text(encoding="utf-8") == text
    listed = subprocess.run(
        ["bentoml", "list", "-o", "json"],
        env=bentoml_env(ship_home),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert tag in {item["tag"] for item in json.loads(listed)}

    # A rerun of the job finds the bento already there.
    again = _call("import_", folder, ship_root, ship_home)
    assert again.returncode == 0, again.stderr


def test_a_folder_without_the_records_is_refused(tmp_path: Path) -> None:
    (tmp_path / "echo-1.bento").write_bytes(b"")
    with pytest.raises(ShipError, match=r"lacks bento\.json"):
        import_(tmp_path, root=tmp_path / "root")


def test_a_folder_without_one_archive_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ShipError, match=r"exactly one \.bento archive, found 0"):
        import_(tmp_path, root=tmp_path / "root")
