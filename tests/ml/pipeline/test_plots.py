"""`make plots`: DVC's plots as a page that opens without network (vega served beside it)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from ml.core.paths import REPO_ROOT
from ml.pipeline import plots
from ml.pipeline.plots import PlotsError
from tests.support.plots import loaded_addresses, make_plots, marks_drawn, remote


@pytest.fixture(scope="session")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make plots BASE=HEAD` over the repository's reports: HEAD's against the workspace's."""
    return make_plots(tmp_path_factory.mktemp("plots") / "out", "BASE=HEAD")


def declared_plots() -> list[str]:
    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    entries = [entry for stage in stages.values() for entry in stage.get("plots") or []]
    return [entry if isinstance(entry, str) else next(iter(entry)) for entry in entries]


def test_the_template_has_dvcs_plots_but_not_its_cdn_scripts() -> None:
    template = plots.TEMPLATE.read_text(encoding="utf-8")
    # dvc-render puts its <script src="https://cdn..."> tags where a template says {scripts}.
    assert "{plot_divs}" in template
    assert "{scripts}" not in template
    assert loaded_addresses(plots.TEMPLATE) == list(plots.LIBRARIES)


def test_the_page_loads_only_the_files_beside_it(page: Path) -> None:
    addresses = loaded_addresses(page)
    assert not [address for address in addresses if remote(address)]
    assert addresses == list(plots.LIBRARIES)
    for name in plots.LIBRARIES:
        assert (page.parent / name).stat().st_size > 0, name


def test_every_declared_plot_is_drawn_from_the_copied_scripts(page: Path) -> None:
    declared = declared_plots()
    assert len(declared) == 3
    for path in declared:
        assert f'id = "{path.replace("/", "_").replace(".", "_")}"' in page.read_text("utf-8")
    drawn = marks_drawn(page.parent)
    assert len(drawn) == len(declared)
    # Against a base every revision draws its own line: the curves draw two.
    assert drawn[:2] == [2, 2]
    assert all(drawn), drawn


def test_missing_libraries_say_what_to_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(PlotsError, match=r"vega\.min\.js not found: run `make plots`"):
        plots.render(tmp_path / "out", node_modules=tmp_path / "node_modules")
    assert not (tmp_path / "out").exists()  # checked before dvc runs
    args = ["--out", str(tmp_path / "out"), "--node-modules", str(tmp_path / "node_modules")]
    assert plots.main(args) == 1
    assert "plots: " in capsys.readouterr().err


def test_a_base_is_a_revision_never_an_option(tmp_path: Path) -> None:
    node_modules = tmp_path / "node_modules"
    for name, package in plots.LIBRARIES.items():
        (node_modules / package / "build").mkdir(parents=True)
        (node_modules / package / "build" / name).write_text("")
    with pytest.raises(PlotsError, match=r"`dvc plots diff --help` failed:\n.*'--help'"):
        plots.render(tmp_path / "out", "--help", node_modules=node_modules)


def test_the_page_folder_is_ignored_by_git() -> None:
    """An untracked dvc_plots/ made the next package build name no commit (a new bento tag)."""
    name = f"{plots.OUT.relative_to(REPO_ROOT)}/{plots.PAGE}"
    ignored = subprocess.run(["git", "check-ignore", "-q", name], cwd=REPO_ROOT, check=False)
    assert ignored.returncode == 0, f"{name} is not git-ignored"
