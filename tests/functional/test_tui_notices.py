"""Notices are not story (issue 21): the model's load steps ("Checking ...gguf", "Merging
the alice adapter..."), its fallbacks and failures, and the launch's own notices go to the
status bar or a toast, never into the story log (which is the game's transcript)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fakes import ScriptedGenerator
from pilot_helpers import make_app, story, wait_until
from textual.message import Message

from textgamegen.config import Settings
from textgamegen.engine.game import Game
from textgamegen.engine.saves import save_game
from textgamegen.ui import app as app_module
from textgamegen.ui.app import TextGameGenApp
from textgamegen.ui.screens.game import GameScreen
from textgamegen.ui.screens.title import TitleScreen
from textgamegen.ui.widgets.status_bar import StatusBar

CHECKING = "Checking SmolLM2-135M-Instruct.Q4_1.gguf"
MERGING = "Merging the alice adapter…"
FALLBACK = "The narrator 'alice' is missing; the tiny narrator plays instead."


def toasts(app: TextGameGenApp) -> list[str]:
    return [notification.message for notification in app._notifications]


def story_and_notices_apart(app: TextGameGenApp) -> None:
    text = story(app).plain_text()
    for notice in (CHECKING, MERGING, FALLBACK):
        assert notice not in text, text
    assert app.game is not None
    assert not any(notice in line for line in app.game.story() for notice in (MERGING, FALLBACK))


class SlowLoad:
    """Stands for the real loader: says its steps, waits to be let go, falls back."""

    def __init__(self) -> None:
        self.go = threading.Event()

    def __call__(self, model: str, device: str, settings: Settings, progress=None):
        assert progress is not None, "the app passes its progress line to the real loader"
        progress(CHECKING)
        progress(MERGING)
        self.go.wait(10)
        generator = ScriptedGenerator(name="tiny")
        generator.notice = FALLBACK
        return generator


@pytest.fixture
def slow_load(monkeypatch: pytest.MonkeyPatch) -> SlowLoad:
    loader = SlowLoad()
    # The app hands its progress line only to the real loader: stand in for it.
    monkeypatch.setattr(app_module, "load_generator_in_worker", loader)
    return loader


async def test_load_steps_show_in_the_status_bar_and_fallbacks_as_toasts(
    tmp_path: Path, slow_load: SlowLoad
) -> None:
    messages: list[Message] = []
    app = make_app(tmp_path, model="alice")
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        status = app.screen.query_one(StatusBar)
        await wait_until(pilot, lambda: MERGING in status.plain)
        assert "Model alice" in status.plain
        slow_load.go.set()
        await wait_until(pilot, lambda: not app.model_loading)
        await wait_until(pilot, lambda: FALLBACK in toasts(app))
        await wait_until(pilot, lambda: MERGING not in status.plain)
        assert "Model tiny" in status.plain
        await pilot.press(*"look", "enter")
        await wait_until(pilot, lambda: not story(app).is_narrating)
        story_and_notices_apart(app)


async def test_load_steps_show_on_the_title_screen_and_not_in_the_next_story(
    tmp_path: Path, slow_load: SlowLoad
) -> None:
    app = make_app(tmp_path, model="alice", show_title=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TitleScreen))
        line = app.screen.query_one("#title-model")
        await wait_until(pilot, lambda: MERGING in str(line.render()))
        slow_load.go.set()
        await wait_until(pilot, lambda: FALLBACK in toasts(app))
        await wait_until(pilot, lambda: "Narrator: tiny" in str(line.render()))
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        await wait_until(pilot, lambda: not story(app).is_narrating)
        story_and_notices_apart(app)


async def test_a_failed_load_is_a_toast_not_a_story_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    app = make_app(tmp_path, model=f"{missing}/")  # the real loader, a missing directory
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        await wait_until(pilot, lambda: any("could not be loaded" in t for t in toasts(app)))
        await wait_until(pilot, lambda: not story(app).is_narrating)
        assert app.generator is not None and app.generator.name == "template"
        assert "could not be loaded" not in story(app).plain_text()


async def test_launch_notices_are_toasts_when_a_save_opens_at_once(tmp_path: Path) -> None:
    game = Game.new(make_app(tmp_path).launch.world, seed=1, autosave=False)
    game.step("w")
    save_game(game, "mid", tmp_path / "saves")
    app = make_app(tmp_path, generator=ScriptedGenerator())
    app.launch.load = "mid"
    app._notices = ["Settings in config.toml not read (line 1); playing with the defaults."]
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        await wait_until(pilot, lambda: any("config.toml" in t for t in toasts(app)))
        text = story(app).plain_text()
        assert "Loaded mid (turn 1)." in text
        assert "config.toml" not in text
