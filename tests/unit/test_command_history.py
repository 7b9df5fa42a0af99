"""The input's command history: walking back and forth, and the draft kept (pure code)."""

from __future__ import annotations

from textgamegen.ui.history import CommandHistory


def test_history_walks_back_and_returns_the_draft() -> None:
    history = CommandHistory()
    for command in ("look", "north", "north", "take lamp"):
        history.add(command)
    assert history.entries == ["look", "north", "take lamp"]
    assert history.previous("half typed") == "take lamp"
    assert history.previous("") == "north"
    assert history.previous("") == "look"
    assert history.previous("") is None
    assert history.next() == "north"
    assert history.next() == "take lamp"
    assert history.next() == "half typed"
    assert history.next() is None
