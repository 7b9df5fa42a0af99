"""Tab completion of a command line from the verbs and the names in sight (pure code)."""

from __future__ import annotations

import pytest

from textgamegen.ui.completion import complete


@pytest.mark.parametrize(
    ("line", "options", "common"),
    [
        ("ta", ("take", "talk", "talk to"), "ta"),
        ("talk ", ("talk to",), "talk to "),
        ("talk to m", ("Old Miller",), "talk to Old Miller "),
        ("take br", ("brass lantern",), "take brass lantern "),
        ("take brass l", ("brass lantern",), "take brass lantern "),
        ("take lan", ("brass lantern",), "take brass lantern "),
        ("go n", ("north",), "go north "),
        ("zz", (), "zz"),
    ],
)
def test_completion_table(line: str, options: tuple[str, ...], common: str) -> None:
    verbs = ["go", "look", "look at", "take", "talk", "talk to"]
    names = ["north", "east", "brass lantern", "fish crate", "Old Miller"]
    found = complete(line, verbs, names)
    assert found.options == options
    assert found.common == common
