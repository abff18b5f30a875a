"""The pipeline's records after a rename: identity values rewritten in place, dvc.lock relocked."""

from __future__ import annotations

import hashlib
import json

from ml.forking.records import (
    BENTO_RECORD,
    LOCK_FILE,
    MODEL_CARD,
    bento_labels,
    card_labels,
    lock_params,
    relock,
    rewrite,
)

CHANGES = {"team": ("ml", "growth"), "cost-center": ("cc-1", "cc-2")}

LOCK = """\
stages:
  package:
    deps:
    - path: reports/bento.json
      hash: md5
      md5: {old}
      size: {size}
    params:
      params.yaml:
        identity:
          project: demo
          team: ml
          cost-center: other
        train:
          team: ml
    outs:
    - path: reports/bento.json
      hash: md5
      md5: {old}
      size: {size}
    - path: reports/model_card.md
      hash: md5
      md5: {old}
      size: {size}
"""


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_bento_labels_change_only_the_keys_holding_the_old_value() -> None:
    labels = {"cost-center": "cc-9", "params.team": "ml", "team": "ml"}
    text = json.dumps({"labels": labels}, indent=2) + "\n"
    expected = {"labels": {**labels, "team": "growth"}}
    assert bento_labels(text, CHANGES) == json.dumps(expected, indent=2) + "\n"


def test_card_labels_change_the_cost_table_rows() -> None:
    text = "| label | value |\n|---|---|\n| team | ml |\n| cost-center | cc-1 |\nteam ml\n"
    assert card_labels(text, CHANGES) == (
        "| label | value |\n|---|---|\n| team | growth |\n| cost-center | cc-2 |\nteam ml\n"
    )


def test_lock_params_change_the_identity_section_only_where_it_holds_the_old_value() -> None:
    text = LOCK.format(old="0" * 32, size=1)
    changed = lock_params(text, CHANGES)
    # identity.team was the old team; identity.cost-center was not the old one (a stale lock
    # stays stale); train.team is not the identity.
    assert changed == text.replace("          team: ml\n", "          team: growth\n", 1)


def test_relock_re_records_the_outputs_it_rewrote_where_the_lock_matched() -> None:
    old, new = b"old record\n", b"the new record\n"
    text = LOCK.format(old=md5(old), size=len(old))
    relocked = relock(text, {"reports/bento.json": (old, new)})
    outs = relocked.split("    outs:\n")[1]
    assert outs.startswith(
        f"    - path: reports/bento.json\n      hash: md5\n      md5: {md5(new)}\n"
        f"      size: {len(new)}\n"
    )
    # The card was not rewritten; an input is DVC's to report, never the rename's to hide.
    assert outs.count(md5(old)) == 1
    assert relocked.split("    outs:\n")[0] == text.split("    outs:\n")[0]


def test_relock_leaves_a_stale_lock_stale() -> None:
    text = LOCK.format(old="0" * 32, size=11)
    assert relock(text, {"reports/bento.json": (b"old record\n", b"new")}) == text


def test_rewrite_touches_the_records_only() -> None:
    text = "team: ml\n"
    assert rewrite("params.yaml", text, CHANGES) == text
    assert rewrite(LOCK_FILE, text, {}) == text
    assert {BENTO_RECORD, MODEL_CARD, LOCK_FILE} == {
        "reports/bento.json",
        "reports/model_card.md",
        "dvc.lock",
    }
