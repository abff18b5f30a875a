"""`make audit` with the real pip-audit: against an OSV-compatible API on 127.0.0.1 serving a real
advisory (pip-audit's --osv-url), and against PyPI itself where its vulnerability data answers."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ml.ci import audit

# GHSA-x84v-xcm2-53pg as OSV publishes it (trimmed to what pip-audit reads): requests before
# 2.20.0 sends the Authorization header on to an http:// URL it is redirected to.
ADVISORY = {
    "schema_version": "1.6.0",
    "id": "GHSA-x84v-xcm2-53pg",
    "aliases": ["CVE-2018-18074", "PYSEC-2018-28"],
    "summary": "Insufficiently Protected Credentials in Requests",
    "published": "2018-10-29T19:06:46Z",
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "requests"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.20.0"}]}],
        }
    ],
}
VULNERABLE = "requests==2.19.1\nidna==2.7\n"


class _Osv(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        hit = query["package"]["name"] == "requests" and query["version"] == "2.19.1"
        body = json.dumps({"vulns": [ADVISORY]} if hit else {}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def osv_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Osv)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/query"
    finally:
        server.shutdown()


def _files(tmp_path: Path, ignores: str = "ignore: []\n") -> list[str]:
    (tmp_path / "requirements.txt").write_text(VULNERABLE, encoding="utf-8")
    (tmp_path / "ignore.yaml").write_text(ignores, encoding="utf-8")
    return [
        "--requirements",
        str(tmp_path / "requirements.txt"),
        "--ignores",
        str(tmp_path / "ignore.yaml"),
    ]


def test_a_vulnerable_pin_fails_naming_the_advisory_and_its_fix(
    osv_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert audit.main([*_files(tmp_path), "--osv-url", osv_url]) == 1
    err = capsys.readouterr().err
    assert "1 known vulnerabilities" in err
    row = next(line for line in err.splitlines() if line.startswith("requests"))
    assert row.split()[:2] == ["requests", "2.19.1"]
    assert "GHSA-x84v-xcm2-53pg" in row
    assert "CVE-2018-18074" in row
    assert row.endswith("2.20.0")


@pytest.mark.parametrize("advisory", ["GHSA-x84v-xcm2-53pg", "CVE-2018-18074"])
def test_an_ignore_entry_with_a_reason_lets_the_advisory_pass(
    advisory: str, osv_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = f"ignore:\n  - id: {advisory}\n    package: requests\n    reason: no redirects\n"
    assert audit.main([*_files(tmp_path, entry), "--osv-url", osv_url]) == 0
    assert "2 pins" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (
            "  - id: GHSA-x84v-xcm2-53pg\n    package: requests\n",
            "ignore[0].reason (GHSA-x84v-xcm2-53pg): Field required",
        ),
        (
            "  - id: GHSA-x84v-xcm2-53pg\n    package: requests\n    reason: ' '\n",
            "ignore[0].reason (GHSA-x84v-xcm2-53pg): String should match",
        ),
        ("  - package: requests\n    reason: why\n", "ignore[0].id: Field required"),
        (
            "  - id: X\n    package: requests\n    reason: why\n    owner: me\n",
            "ignore[0].owner (X): unknown key",
        ),
    ],
    ids=["no-reason", "blank-reason", "no-id", "unknown-key"],
)
def test_a_malformed_ignore_entry_is_an_error_naming_it(
    entry: str, problem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert audit.main(_files(tmp_path, "ignore:\n" + entry)) == 2
    assert problem in capsys.readouterr().err


def test_an_expired_entry_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "ignore.yaml"
    path.write_text(
        "ignore:\n  - {id: GHSA-1, package: requests, reason: why, until: 2026-01-31}\n",
        encoding="utf-8",
    )
    assert audit.load_ignores(path, today=date(2026, 1, 31))[0].until == date(2026, 1, 31)
    with pytest.raises(
        audit.AuditError, match=r"ignore\[0\] \(GHSA-1, requests\) expired on 2026-01-31"
    ):
        audit.load_ignores(path, today=date(2026, 2, 1))


def test_an_entry_for_a_package_not_pinned_is_an_error(
    osv_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = "ignore:\n  - {id: GHSA-1, package: urllib3, reason: why}\n"
    assert audit.main([*_files(tmp_path, entry), "--osv-url", osv_url]) == 2
    assert "GHSA-1 names urllib3, which" in capsys.readouterr().err


def test_a_pin_the_service_cannot_look_up_fails_the_audit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """PyPI has no requests 0.0.0: pip-audit skips it, which must not read as a pass."""
    (tmp_path / "requirements.txt").write_text("requests==0.0.0\n", encoding="utf-8")
    argv = [
        "--requirements",
        str(tmp_path / "requirements.txt"),
        "--ignores",
        str(tmp_path / "none.yaml"),
    ]
    assert audit.main(argv) == 1
    assert "1 of 1 pins could not be audited (requests)" in capsys.readouterr().err


@pytest.fixture
def pypi_answers() -> None:
    """Skip unless PyPI's per-release JSON API, which carries the vulnerability data, answers."""
    try:
        with urllib.request.urlopen("https://pypi.org/pypi/requests/2.19.1/json", timeout=10):
            return
    except (urllib.error.URLError, OSError) as error:
        pytest.skip(f"PyPI's per-release JSON API does not answer: {error}")


def test_pypi_s_vulnerability_data_flags_the_vulnerable_pin(
    pypi_answers: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert audit.main(_files(tmp_path)) == 1
    assert "CVE-2018-18074" in capsys.readouterr().err
