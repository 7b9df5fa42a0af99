"""Feedback in the TUI: the rating keys, Esc and retry reach the feedback database; a
corrupt database is reported and the game goes on; the setting turns recording off."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from fakes import WordsGenerator
from pilot_helpers import make_app as make_pilot_app
from pilot_helpers import of_type, wait_until
from textual.binding import Binding
from textual.message import Message

from textgamegen.feedback import store
from textgamegen.ui.screens.game import GameScreen
from textgamegen.ui.screens.help import help_text
from textgamegen.ui.widgets.story_log import StoryLog

# The player's folders come from tests/conftest.py; the model is the "words" fake.
make_app = partial(make_pilot_app, model="words")


def rows() -> list[dict]:
    with store.open_store() as db:
        return store.narrations(db)


async def test_rating_keys_esc_and_retry_are_recorded(tmp_path: Path) -> None:
    messages: list[Message] = []
    generator = WordsGenerator()
    app = make_app(tmp_path, generator)
    async with app.run_test(size=(140, 40), message_hook=messages.append) as pilot:
        await wait_until(pilot, lambda: bool(of_type(messages, StoryLog.NarrationCompleted)))
        screen = app.screen
        assert isinstance(screen, GameScreen)
        footer_keys = {b.id for b in screen.BINDINGS if isinstance(b, Binding)}
        assert {"game.rate_good", "game.rate_bad"} <= footer_keys
        shown = {b.description for _, b, enabled, _ in screen.active_bindings.values() if enabled}
        assert {"Good", "Bad"} <= shown
        await pilot.press("ctrl+g")
        await wait_until(
            pilot,
            lambda: "Noted: the last passage was good." in screen.query_one(StoryLog).plain_text(),
        )
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(of_type(messages, StoryLog.NarrationCompleted)) == 2)
        await pilot.press("ctrl+b")
        bad = "Noted: the last passage was bad."
        await wait_until(pilot, lambda: bad in screen.query_one(StoryLog).plain_text())
        generator.delay = 0.05
        await pilot.press(*"wait", "enter")
        await pilot.press(*"x crate", "enter")
        await wait_until(pilot, lambda: len(of_type(messages, StoryLog.NarrationStreamed)) > 20)
        await pilot.press("escape")
        await wait_until(pilot, lambda: len(of_type(messages, StoryLog.NarrationCompleted)) == 3)
        assert app.recorder is not None and app.recorder.flush()
        recorded = rows()
        await pilot.press("ctrl+q")
    assert [store.label(row) for row in recorded] == ["good", "bad", "cancelled"]
    first, second, third = recorded
    assert first["retried"] == 1  # rated good, then retried: the explicit rating labels it
    assert second["text"].startswith("Call 2") and second["model"] == "words"
    assert (second["first_token_ms"], second["total_ms"], second["tokens"]) == (12.0, 80.0, 6)
    assert third["cancelled"] == 1 and third["text"].endswith("…")
    assert "Ctrl+G" in help_text() and "rate good" in help_text()


async def test_a_corrupt_database_is_reported_and_the_game_goes_on(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "feedback.db").write_bytes(b"not sqlite at all " * 500)
    messages: list[Message] = []
    app = make_app(tmp_path, WordsGenerator())
    async with app.run_test(size=(140, 40), message_hook=messages.append) as pilot:
        await wait_until(pilot, lambda: bool(of_type(messages, StoryLog.NarrationCompleted)))
        assert app.recorder is not None and app.recorder.flush()
        await pilot.press(*"look", "enter")
        await pilot.press("ctrl+g")
        log = app.screen.query_one(StoryLog)

        # A notice, so a toast: the story holds only the game's own text (issue 21).
        def told() -> bool:
            return any("Feedback is not being recorded" in n.message for n in app._notifications)

        await wait_until(pilot, told)
        assert "Feedback is not being recorded" not in log.plain_text()
        assert "Noted: the last passage was good." in log.plain_text()
        assert app.game is not None and app.game.turn == 1


async def test_turning_the_setting_off_mid_game_stops_recording(tmp_path: Path) -> None:
    from dataclasses import replace

    messages: list[Message] = []
    app = make_app(tmp_path, WordsGenerator())
    async with app.run_test(size=(140, 40), message_hook=messages.append) as pilot:
        await wait_until(pilot, lambda: bool(of_type(messages, StoryLog.NarrationCompleted)))
        screen = app.screen
        assert isinstance(screen, GameScreen) and screen.play.feedback.recorder is app.recorder
        recorder = app.recorder
        assert recorder is not None and recorder.flush()
        app.apply_settings(replace(app.settings, record_feedback=False))
        assert screen.play.feedback.recorder is None and app.recorder is None
        await pilot.press("ctrl+g")
        await pilot.press(*"x crate", "enter")
        await wait_until(pilot, lambda: len(of_type(messages, StoryLog.NarrationCompleted)) == 2)
        assert recorder.flush()
    recorded = rows()
    assert len(recorded) == 1 and recorded[0]["rating"] is None


async def test_the_setting_turns_recording_off(tmp_path: Path) -> None:
    messages: list[Message] = []
    app = make_app(tmp_path, WordsGenerator(), record_feedback=False)
    async with app.run_test(size=(140, 40), message_hook=messages.append) as pilot:
        await wait_until(pilot, lambda: bool(of_type(messages, StoryLog.NarrationCompleted)))
        await pilot.press("ctrl+g")
        good = "Noted: the last passage was good."
        await wait_until(pilot, lambda: good in app.screen.query_one(StoryLog).plain_text())
        assert app.recorder is None
    assert not (tmp_path / "data" / "feedback.db").exists()
