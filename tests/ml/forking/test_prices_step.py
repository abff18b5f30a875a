"""The new region's prices: `make init` runs `make prices` when it can, else says how."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ml.forking.prices import has_credentials, has_prices
from tests.ml.forking.renaming import init, no_prices, priced_regions, unpriced


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
