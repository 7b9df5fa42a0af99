"""The checked-in config-key reference matches the config dataclasses."""

from __future__ import annotations

import dataclasses

from training import reference
from training.config import FinetuneConfig, GateConfig, Source


def test_the_checked_in_reference_is_up_to_date() -> None:
    assert reference.REFERENCE.read_text(encoding="utf-8") == reference.render(), (
        "training/CONFIG_KEYS.md is out of date: run "
        "`textgamegen train keys --out training/CONFIG_KEYS.md`"
    )


def test_every_key_of_every_table_is_in_the_reference() -> None:
    text = reference.render()
    titles = [title for title, _ in reference.sections()]
    assert titles[:2] == ["[corpus]", "[[corpus.sources]]"] and "[gate]" in titles
    assert titles[-1] == "[tracking]"
    for kind in (Source, FinetuneConfig, GateConfig):
        for item in dataclasses.fields(kind):
            assert f"| `{item.name}` |" in text
    assert "| `threads` | integer | `0` |" in text
    assert "| `mlflow` | boolean | `false` |" in text
    assert "One of: `builtin`, `punkt_tab`." in text
