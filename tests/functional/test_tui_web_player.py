"""A web player's game (``serve`` runs it with ``TEXTGAMEGEN_HOSTED=1`` and the player's
own settings file): Settings shows and saves only the player's part, never the host's
``config.toml``; Save with nothing changed loads nothing; the palette offers no model; the
model server's address is never shown; the player is told what is recorded; the game
saves when the browser tab closes; the game says when the model is back."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import tomllib
from fakes import ScriptedGenerator, UnreliableGenerator
from pilot_helpers import (
    make_app,
    narration_done,
    of_type,
    palette_searched,
    type_command,
    wait_until,
)
from textual import messages as textual_messages
from textual.command import CommandList
from textual.message import Message

from textgamegen import paths
from textgamegen.config import (
    PLAYER_SETTINGS,
    Settings,
    SettingsError,
    game_settings,
    save_settings,
    with_player_settings,
)
from textgamegen.engine.saves import latest_autosave
from textgamegen.narration.generator import Generator
from textgamegen.ui.app import RECORDED, TextGameGenApp
from textgamegen.ui.screens.game import GameScreen
from textgamegen.ui.screens.settings import SettingsScreen
from textgamegen.ui.screens.title import TitleScreen
from textgamegen.ui.widgets.status_bar import StatusBar

SERVER = "openai:http://127.0.0.1:59303/v1"
"""The model server ``serve`` starts, as its games are told of it."""


class ServerGenerator(ScriptedGenerator):
    """A narrator as the remote generator shows itself: named for the model, with the
    server's address as its device."""

    device = "127.0.0.1:59303"


@pytest.fixture
def web_player(player_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A hosted game whose player's own settings file is ``<saves>/settings.toml``; the
    host's ``config.toml`` holds the default model, as a host's file usually does."""
    monkeypatch.setenv(paths.HOSTED_ENV, "1")
    own = player_dirs / "saves" / "settings.toml"
    own.parent.mkdir(parents=True)
    monkeypatch.setenv(paths.PLAYER_SETTINGS_ENV, str(own))
    save_settings(Settings(device="cpu"))
    return own


def hosted_app(folder: Path, loads: list[tuple[str, str]], **settings: object) -> TextGameGenApp:
    def loader(model: str, device: str, _settings: Settings) -> Generator:
        loads.append((model, device))
        return ServerGenerator(name="narrator")

    # The host's settings, as the game read them; its model is serve's model server.
    app = make_app(folder, loader=loader, model=SERVER, **settings)
    app.settings.model = Settings().model
    return app


async def test_save_with_nothing_changed_loads_nothing_and_leaves_the_host_file(
    player_dirs: Path, web_player: Path
) -> None:
    host_file = player_dirs / "config.toml"
    before = host_file.read_bytes()
    loads: list[tuple[str, str]] = []
    sent: list[Message] = []
    app = hosted_app(player_dirs, loads)
    async with app.run_test(size=(140, 50), message_hook=sent.append) as pilot:
        await wait_until(pilot, lambda: bool(of_type(sent, TextGameGenApp.ModelLoaded)))
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen))
        form = app.screen
        shown = {widget.id for widget in form.query("#settings-form *") if widget.id}
        for host_only in ("model", "device", "threads", "dtype", "quantize", "prompts"):
            assert f"setting-{host_only}" not in shown, host_only
        for own in PLAYER_SETTINGS:
            assert f"setting-{own}" in shown, own
        assert "sampling-temperature" in shown
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        await pilot.pause()
        assert loads == [(SERVER, "cpu")], "Save with nothing changed loaded a model"
        assert host_file.read_bytes() == before, "the host's settings file was written"
        written = tomllib.loads(web_player.read_text(encoding="utf-8"))
        assert set(written) == {*PLAYER_SETTINGS, "sampling"}, "only the player's part"

        # A sampling change is the player's: kept in their file, for the host's model.
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen))
        app.screen.query_one("#sampling-temperature").value = "0.9"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: len(loads) == 2)
    assert loads[1] == (SERVER, "cpu"), "the player's sampling goes to the host's model"
    assert host_file.read_bytes() == before
    own = with_player_settings(Settings(), web_player)
    assert own.sampling.temperature == 0.9 and own.model == Settings().model
    assert "model" not in tomllib.loads(web_player.read_text(encoding="utf-8"))


async def test_a_players_own_save_with_nothing_changed_keeps_the_model_in_use(
    player_dirs: Path,
) -> None:
    """Not hosted either: ``play --model X`` then Save left the settings' model loading in
    its place (the same fault as the web player's)."""
    loads: list[tuple[str, str]] = []
    app = hosted_app(player_dirs, loads)
    assert not app.hosted
    async with app.run_test(size=(140, 50)) as pilot:
        await wait_until(pilot, lambda: loads == [(SERVER, "cpu")])
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen))
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        await pilot.pause()
        assert loads == [(SERVER, "cpu")]


def test_a_player_file_cannot_set_what_is_the_hosts(player_dirs: Path, web_player: Path) -> None:
    web_player.parent.mkdir(parents=True, exist_ok=True)
    web_player.write_text('model = "gpt2-large"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="model is the host's"):
        with_player_settings(Settings(), web_player)
    settings, notice = game_settings()
    assert settings.model == Settings().model and "host's" in notice
    assert str(web_player.parent) not in notice, "a player's notice names no host folder"
    web_player.write_text("prefetch = false\n[sampling]\ntop_k = 7\n", encoding="utf-8")
    settings, notice = game_settings()
    assert notice == "" and not settings.prefetch and settings.sampling.top_k == 7
    assert settings.device == "cpu", "the rest is the host's"


async def test_the_palette_offers_web_players_no_model(player_dirs: Path, web_player: Path) -> None:
    (player_dirs / "models" / "mine").mkdir(parents=True)
    loads: list[tuple[str, str]] = []
    app = hosted_app(player_dirs, loads)
    async with app.run_test(size=(140, 50)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen) and bool(loads))
        await pilot.press("ctrl+p")
        await pilot.press(*"model")
        await wait_until(pilot, lambda: palette_searched(app, "model"))
        hits = app.screen.query_one(CommandList)
        texts = [str(hits.get_option_at_index(i).prompt) for i in range(hits.option_count)]
        assert texts and not any("Model:" in text for text in texts), texts
        await pilot.press("escape")
        app.switch_model("mine")  # and the app refuses it however it is asked
        await pilot.pause()
        assert loads == [(SERVER, "cpu")] and app.settings.model == Settings().model


async def test_web_players_see_no_server_address(player_dirs: Path, web_player: Path) -> None:
    loads: list[tuple[str, str]] = []
    app = hosted_app(player_dirs, loads)
    async with app.run_test(size=(140, 50)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen) and bool(loads))
        await wait_until(pilot, lambda: app.model_label == "narrator")
        status = app.screen.query_one(StatusBar)
        await pilot.pause()
        shown = str(status.render())
        assert "127.0.0.1" not in shown and "59303" not in shown, shown
        assert app.device_label == paths.MODEL_SERVER
        app.load_model(SERVER, "cpu")  # while a model loads, its address is not shown either
        assert "127.0.0.1" not in app.model_label


async def test_web_players_are_told_what_is_recorded(player_dirs: Path, web_player: Path) -> None:
    app = hosted_app(player_dirs, [], show_title=True)
    app._show_title = True
    async with app.run_test(size=(140, 50)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TitleScreen))
        notice = str(app.screen.query_one("#title-notice").render())
        assert "keeps what you type" in notice and "record feedback" in notice
    web_player.write_text("record_feedback = false\n", encoding="utf-8")
    settings, _ = game_settings()
    app = hosted_app(player_dirs, [], show_title=True)
    app.settings = app.launch.settings = settings
    async with app.run_test(size=(140, 50)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TitleScreen))
        assert RECORDED not in str(app.screen.query_one("#title-notice").render())
        assert app.recorder is None


async def test_the_game_saves_when_it_is_told_to_end(player_dirs: Path) -> None:
    """The browser tab closing (textual-serve sends "quit", the game gets ``ExitApp``) or
    SIGTERM: the game saves as Ctrl+Q does. Turn 7 came back as turn 5 (autosave_every)."""
    app = make_app(player_dirs, ScriptedGenerator(), autosave_every=5)
    async with app.run_test(size=(140, 50)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        for command in ("look", "wait", "look", "wait", "look", "wait", "look"):
            await type_command(pilot, command)
        await wait_until(pilot, lambda: app.game is not None and app.game.turn == 7)
        app.post_message(textual_messages.ExitApp())
    autosave = latest_autosave(player_dirs / "saves")
    assert autosave is not None and autosave.turn == 7, autosave


class ServerDown(UnreliableGenerator):
    """The remote generator while its server is down: the template's text, with a notice."""

    def generate(self, request, on_text=None, cancel=None):  # type: ignore[no-untyped-def]
        narration = super().generate(request, on_text, cancel)
        if narration.fallback:
            return replace(narration, notice="The model server did not answer.")
        return narration


async def test_the_game_says_when_the_model_is_back(player_dirs: Path) -> None:
    app = make_app(player_dirs, ServerDown(falls_back=(2,)))
    told: list[str] = []  # every toast, kept (a toast on screen expires under load)
    notify = app.notify

    def recording_notify(message: str, **options: Any) -> None:
        told.append(message)
        notify(message, **options)

    app.notify = recording_notify  # type: ignore[method-assign]
    async with app.run_test(size=(140, 50)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        for command in ("west", "east", "x crate", "open crate"):  # each one narrated
            await wait_until(pilot, lambda: narration_done(app))
            await type_command(pilot, command)
        await wait_until(pilot, lambda: any("is back" in toast for toast in told))
        await wait_until(pilot, lambda: narration_done(app))
    assert sum("is back" in toast for toast in told) == 1, told
    assert any("did not answer" in toast for toast in told), told


async def test_a_web_players_feedback_carries_their_tag(
    player_dirs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textgamegen.feedback import store

    monkeypatch.setenv(paths.WEB_PLAYER_ENV, "web-1f2e3d4c5b6a")
    app = make_app(player_dirs, ScriptedGenerator(), record_feedback=True)
    async with app.run_test(size=(140, 50)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        await type_command(pilot, "look")
        await wait_until(pilot, lambda: narration_done(app) and app.game.turn == 1)
        await pilot.press("ctrl+q")
    with store.connect() as db:
        sessions = {row["session"] for row in store.narrations(db)}
    assert sessions and all(s.startswith("web-1f2e3d4c5b6a/") for s in sessions), sessions


def test_the_model_panel_shows_web_players_no_server_address(
    web_player: Path,
) -> None:
    from rich.console import Console

    from textgamegen.engine.content import ContentKind, ContentRequest
    from textgamegen.narration.generator import Narration
    from textgamegen.ui.widgets.model_panel import render_narration

    narration = Narration(
        ContentRequest(ContentKind.ACTION, subject="crate"),
        "The crate creaks.",
        backend="openai",
        model="narrator",
        device="127.0.0.1:59303",
        fallback=True,
        notice="The model server at http://127.0.0.1:59303/v1 did not answer (refused).",
    )
    console = Console(width=200, record=True)
    console.print(render_narration(narration))
    shown = console.export_text()
    assert "127.0.0.1" not in shown and "59303" not in shown, shown
    assert "openai:narrator on <model server>" in shown
