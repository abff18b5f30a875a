"""`make bento-archive OUT=dir` / `make bento-import IN=dir`: one bento, from job to job.

    python -m ml.ci.bento export DIR
    python -m ml.ci.bento import DIR

The deploy workflow builds the bento once and rolls the same bytes out to every stack: `export`
writes the bento archive (`bentoml export`) with the pipeline records that describe it
(reports/bento.json, reports/metrics.json, dvc.lock) into DIR, uploaded as a workflow artifact;
`import` puts them back in a stack's job (`bentoml import`, and the records where they belong).
In GitHub Actions `export` also sets the step output `bento` to the bento tag.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from ml.core.artifacts import ShipError, bento_report, split_tag
from ml.core.cli import emit
from ml.core.paths import BENTO_INFO_FILE, DVC_LOCK, METRICS_FILE, REPO_ROOT, use_repo_bentoml_home

# What travels with the archive, relative to the repository: enough for publish, image and the
# rollout record. The first names the bento.
RECORDS = tuple(p.relative_to(REPO_ROOT) for p in (BENTO_INFO_FILE, METRICS_FILE, DVC_LOCK))


def export(folder: Path, root: Path = REPO_ROOT) -> str:
    use_repo_bentoml_home()
    import bentoml

    tag = bento_report(root / RECORDS[0])["bento"]
    name, version = split_tag(tag)
    folder.mkdir(parents=True, exist_ok=True)
    bentoml.export_bento(tag, str(folder / f"{name}-{version}.bento"))
    for record in RECORDS:
        shutil.copy2(root / record, folder / record.name)
    return tag


def import_(folder: Path, root: Path = REPO_ROOT) -> str:
    use_repo_bentoml_home()
    import bentoml
    from bentoml.exceptions import NotFound

    archives = sorted(folder.glob("*.bento"))
    if len(archives) != 1:
        raise ShipError(f"{folder} must hold exactly one .bento archive, found {len(archives)}")
    for record in RECORDS:
        if not (folder / record.name).is_file():
            raise ShipError(f"{folder} lacks {record.name}: was it made by `make bento-archive`?")
    for record in RECORDS:
        (root / record).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(folder / record.name, root / record)
    tag = bento_report(root / RECORDS[0])["bento"]
    try:
        bentoml.get(tag)
    except NotFound:
        imported = str(bentoml.import_bento(str(archives[0])).tag)
        if imported != tag:
            raise ShipError(f"{archives[0].name} holds {imported}, bento.json says {tag}") from None
    return tag


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("export", "import"))
    parser.add_argument("folder", type=Path)
    options = parser.parse_args(argv)
    try:
        tag = export(options.folder) if options.action == "export" else import_(options.folder)
    except ShipError as error:
        print(f"bento: {error}", file=sys.stderr)
        return 2
    emit(f"bento={tag}")
    target = os.environ.get("GITHUB_OUTPUT")
    if target:
        with Path(target).open("a", encoding="utf-8") as outputs:
            outputs.write(f"bento={tag}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
