"""The HTML drift report: the verdict, the per-feature numbers and the histograms."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from ml.core.features import FEATURE_NAMES
from ml.monitoring import drift
from ml.monitoring.report import FEATURE_COLUMNS
from tests.ml.monitoring.drift_support import SHIFTED, Data, run_drift, shifted, write_csv


class ReportPage(HTMLParser):
    """The parts of drift.html a reader relies on: verdict, table cells, figures."""

    def __init__(self) -> None:
        super().__init__()
        self.verdict = ""
        self.tables: dict[str, list[list[str]]] = {}
        self.svgs = 0
        self.captions: list[str] = []
        self._in: list[str] = []
        self._table = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table":
            self._table = attributes.get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr":
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self.tables[self._table][-1].append("")
        elif tag == "svg":
            self.svgs += 1
        self._in.append(attributes.get("id") or tag)

    def handle_endtag(self, tag: str) -> None:
        self._in.pop()

    def handle_data(self, text: str) -> None:
        if "verdict" in self._in:
            self.verdict += text
        elif self._in and self._in[-1] in ("td", "th"):
            self.tables[self._table][-1][-1] += text
        elif self._in and self._in[-1] == "figcaption":
            self.captions.append(text)


def test_html_report_shows_the_verdict_numbers_and_histograms(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Data
) -> None:
    result = run_drift(
        capsys, data, tmp_path, write_csv(shifted(data.held_out), tmp_path / "c.csv")
    )
    report = result.report
    assert report is not None
    page = ReportPage()
    page.feed((tmp_path / drift.REPORT_HTML).read_text())

    assert page.verdict.startswith("Drift detected")
    assert all(name in page.verdict for name in SHIFTED)
    header, *rows = page.tables["features"]
    assert header[:2] == ["Feature", "PSI"]
    cells = {row[0]: row for row in rows}
    assert set(cells) == set(FEATURE_NAMES)
    assert [row[0] for row in rows[:2]] == SHIFTED  # drifted features lead the table
    for name, stats in report["features"].items():
        shown = [float(cell) for cell in cells[name][1:7]]
        assert shown == pytest.approx([stats[c] for c in FEATURE_COLUMNS], rel=1e-3)
        assert cells[name][7] == ("yes" if stats["drifted"] else "no")
    classes = {row[0]: float(row[2]) for row in page.tables["classes"][1:]}
    assert classes == pytest.approx(report["class_shift"]["current"], rel=1e-3)
    assert page.svgs == len(FEATURE_NAMES)
    assert page.captions == list(report["features"])
