"""Feedback in the TUI: the rating keys, Esc and retry reach the feedback database; a
corrupt database is reported and the game goes on; the setting turns recording off."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pilot_helpers import of_type, wait_until
from textual.message import Message

from textgamegen.config import Settings
from textgamegen.engine.world import load_world
from textgamegen.engine.worlds import DEFAULT_WORLD, find_world
from textgamegen.feedback import store
from textgamegen.generation.base import Candidate, Narration, Timings
from textgamegen.ui.app import Launch, TextGameGenApp
from textgamegen.ui.screens.game import GameScreen
from textgamegen.ui.screens.help import help_text
from textgamegen.ui.widgets.story_log import StoryLog


class WordsGenerator:
    """Streams a sentence word by word (slowly when asked) and honours ``cancel``."""

    backend = "test"
    device = "cpu"
    name = "words"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls = 0

    def generate(self, request, on_text=None, cancel=None) -> Narration:
        self.calls += 1
        words = f"Call {self.calls} narrates {request.subject or 'the air'} slowly".split()
        shown: list[str] = []
        for word in words * (20 if self.delay else 1):
            if cancel is not None and cancel.is_set():
                return Narration(request, " ".join(shown), cancelled=True, model=self.name,
                                 backend="test", timings=Timings(3.0, 9.0))  # fmt: skip
            time.sleep(self.delay)
            if on_text is not None:
                on_text((" " if shown else "") + word)
            shown.append(word)
        text = " ".join(shown) + "."
        return Narration(request, text, [Candidate(text, tokens=len(shown))],
                         Timings(12.0, 80.0), prompt="<|action|> x", backend="test",
                         model=self.name)  # fmt: skip


@pytest.fixture(autouse=True)
def player_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TEXTGAMEGEN_SAVES_DIR", str(tmp_path / "saves"))
    monkeypatch.setenv("TEXTGAMEGEN_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("TEXTGAMEGEN_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def make_app(tmp_path: Path, generator, **settings) -> TextGameGenApp:
    launch = Launch(
        world=load_world(find_world(DEFAULT_WORLD)),
        settings=Settings(model="words", device="cpu", prefetch=False, **settings),
        saves_dir=tmp_path / "saves",
        seed=7,
        model="words",
    )
    return TextGameGenApp(launch, generator=generator, show_title=False)


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
        footer_keys = {binding.id for binding in screen.BINDINGS}  # type: ignore[union-attr]
        assert {"game.rate_good", "game.rate_bad"} <= footer_keys
        shown = {b.description for _, b, enabled, _ in screen.active_bindings.values() if enabled}
        assert {"Good", "Bad"} <= shown
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: "Noted: the last passage was good." in
                         screen.query_one(StoryLog).plain_text())  # fmt: skip
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(of_type(messages, StoryLog.NarrationCompleted)) == 2)
        await pilot.press("ctrl+b")
        await pilot.pause(0.1)
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
        await wait_until(pilot, lambda: "Feedback is not being recorded" in log.plain_text())
        assert "Noted: the last passage was good." in log.plain_text()
        assert app.game is not None and app.game.turn == 1


async def test_turning_the_setting_off_mid_game_stops_recording(tmp_path: Path) -> None:
    from dataclasses import replace

    messages: list[Message] = []
    app = make_app(tmp_path, WordsGenerator())
    async with app.run_test(size=(140, 40), message_hook=messages.append) as pilot:
        await wait_until(pilot, lambda: bool(of_type(messages, StoryLog.NarrationCompleted)))
        screen = app.screen
        assert isinstance(screen, GameScreen) and screen.feedback.recorder is app.recorder
        recorder = app.recorder
        assert recorder is not None and recorder.flush()
        app.apply_settings(replace(app.settings, record_feedback=False))
        assert screen.feedback.recorder is None and app.recorder is None
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
        await pilot.pause(0.1)
        assert app.recorder is None
    assert not (tmp_path / "data" / "feedback.db").exists()
