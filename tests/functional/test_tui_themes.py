"""Themes: a setting, a palette entry per theme, applied at start and kept in the settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes import ScriptedGenerator
from pilot_helpers import make_app, palette_searched, wait_until
from textual.command import CommandPalette
from textual.theme import BUILTIN_THEMES
from textual.widgets import Select

from textgamegen.config import THEMES, Settings, SettingsError, load_settings
from textgamegen.ui.screens.game import GameScreen
from textgamegen.ui.screens.settings import SettingsScreen


def test_every_offered_theme_is_one_textual_ships() -> None:
    assert set(THEMES) <= set(BUILTIN_THEMES)
    assert Settings().theme == "textual-dark"


def test_an_unknown_theme_is_a_clear_settings_error() -> None:
    with pytest.raises(SettingsError, match="theme must be one of textual-dark"):
        Settings(theme="neon")


async def test_the_theme_of_the_settings_colours_the_game(tmp_path: Path) -> None:
    app = make_app(tmp_path, generator=ScriptedGenerator(), theme="nord")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        assert app.theme == "nord"


async def test_a_theme_chosen_in_the_palette_is_used_and_kept(tmp_path: Path) -> None:
    app = make_app(tmp_path, generator=ScriptedGenerator())
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        await pilot.press("ctrl+p")
        await pilot.press(*"theme: gruvbox")
        await wait_until(pilot, lambda: palette_searched(app, "theme: gruvbox"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.theme == "gruvbox")
    assert load_settings().theme == "gruvbox"


async def test_textuals_own_theme_picker_is_not_offered(tmp_path: Path) -> None:
    # It would preview themes the story is not styled for, and forget the choice.
    app = make_app(tmp_path, generator=ScriptedGenerator())
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Theme" not in titles and "Quit" in titles


async def test_the_settings_screen_offers_the_themes(tmp_path: Path) -> None:
    app = make_app(tmp_path, generator=ScriptedGenerator())
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen))
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        select = screen.query_one("#setting-theme", Select)
        select.value = "dracula"
        await pilot.pause()
        screen.action_save()
        await wait_until(pilot, lambda: app.theme == "dracula")
        assert not isinstance(app.screen, CommandPalette)
    assert load_settings().theme == "dracula"
