"""The README's settings table is generated from the config model and must stay in step."""

from __future__ import annotations

from infra.settings import StackSettings
from infra.tools import config_docs


def test_readme_table_matches_the_config_model() -> None:
    current = config_docs.README.read_text(encoding="utf-8")
    assert current == config_docs.render_readme(current), "run `make docs`"


def test_every_stack_file_key_has_a_row_with_a_description() -> None:
    table = config_docs.config_table()
    rows = [line for line in table.splitlines()[2:]]
    keys = {row.split("`")[1] for row in rows}
    for section in ("network", "cluster", "storage", "registry", "monitoring", "budget", "ci"):
        assert StackSettings.model_fields[section].alias in {k.split(".")[0] for k in keys}
    assert "cluster.nodePools[].limits.gpus" in keys
    # Maps of sections get a row per field, under a `<key>` placeholder.
    assert "cluster.karpenter.nodeClasses.<key>.amiAlias" in keys
    assert all(row.split(" | ")[2].strip() for row in rows), "a setting without a description"


def test_values_come_from_the_committed_stacks() -> None:
    table = config_docs.config_table()
    row = next(line for line in table.splitlines() if line.startswith("| `network.natMode`"))
    assert row.endswith("| `none` | `per_az` |")
