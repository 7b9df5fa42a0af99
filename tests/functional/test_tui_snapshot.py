"""Snapshot of the main game screen (pytest-textual-snapshot).

The template generator and a fixed seed make the prose repeatable; autouse fixtures
freeze the cursor blink, the template's clock (its timings show in the model panel)
and Python's random module. Refresh after an intended change with
``pytest tests/functional/test_tui_snapshot.py --snapshot-update`` and review the SVG.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from pilot_helpers import narration_done, wait_until
from textual.widgets import Input, Markdown

from textgamegen.config import Settings
from textgamegen.engine.world import load_world
from textgamegen.engine.worlds import DEFAULT_WORLD, find_world
from textgamegen.narration import template
from textgamegen.narration.template import TemplateGenerator
from textgamegen.ui.app import Launch, TextGameGenApp
from textgamegen.ui.screens.help import HelpScreen


@pytest.fixture(autouse=True)
def frozen_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    """The input's cursor stays lit instead of blinking on a timer."""
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)


@pytest.fixture(autouse=True)
def frozen_clock_and_randomness(monkeypatch: pytest.MonkeyPatch) -> None:
    """The template's timings (shown in the model panel) read a clock that never moves."""
    monkeypatch.setattr(
        template, "time", SimpleNamespace(perf_counter=lambda: 100.0, sleep=time.sleep)
    )
    random.seed(1234)


def test_main_screen(snap_compare, tmp_path: Path) -> None:
    launch = Launch(
        world=load_world(find_world(DEFAULT_WORLD)),
        settings=Settings(model="template", device="cpu"),
        saves_dir=tmp_path / "saves",
        seed=42,
        model="template",
        device="cpu",
    )
    app = TextGameGenApp(launch, generator=TemplateGenerator(), show_title=False)

    async def play(pilot) -> None:
        await _settle(pilot)
        await pilot.press(*"north", "enter")
        await _settle(pilot)
        await pilot.press(*"exa")

    assert snap_compare(app, terminal_size=(120, 36), run_before=play)


def _app(tmp_path: Path, *, show_title: bool, theme: str = "textual-dark") -> TextGameGenApp:
    launch = Launch(
        world=load_world(find_world(DEFAULT_WORLD)),
        settings=Settings(model="template", device="cpu", prefetch=False, theme=theme),
        saves_dir=tmp_path / "saves",
        seed=42,
        model="template",
        device="cpu",
    )
    return TextGameGenApp(launch, generator=TemplateGenerator(), show_title=show_title)


def help_shown(app: TextGameGenApp) -> bool:
    """The help screen is up and its text has been laid out (Markdown mounts its blocks
    after the screen itself)."""
    screen = app.screen
    return isinstance(screen, HelpScreen) and bool(screen.query_one(Markdown).children)


async def _settle(pilot) -> None:
    await wait_until(pilot, lambda: narration_done(pilot.app))


def test_title_screen(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(_app(tmp_path, show_title=True), terminal_size=(80, 24))


def test_help_screen(snap_compare, tmp_path: Path) -> None:
    async def open_help(pilot) -> None:
        await _settle(pilot)
        await pilot.press("f1")
        await wait_until(pilot, lambda: help_shown(pilot.app))

    assert snap_compare(
        _app(tmp_path, show_title=False), terminal_size=(80, 24), run_before=open_help
    )


def test_map(snap_compare, tmp_path: Path) -> None:
    """The side panel's map at 80x24 after a walk round the harbour, and the map command."""

    async def walk(pilot) -> None:
        await _settle(pilot)
        for command in ("e", "w", "n", "map"):
            await pilot.press(*command, "enter")
            await _settle(pilot)

    assert snap_compare(_app(tmp_path, show_title=False), terminal_size=(80, 24), run_before=walk)


@pytest.mark.parametrize("theme", ["textual-light", "nord"])
def test_main_screen_in_another_theme(snap_compare, tmp_path: Path, theme: str) -> None:
    """The game in two of the themes a player can choose (settings, or the palette)."""

    async def look(pilot) -> None:
        await _settle(pilot)
        await pilot.press(*"n", "enter")
        await _settle(pilot)

    app = _app(tmp_path, show_title=False, theme=theme)
    assert snap_compare(app, terminal_size=(80, 24), run_before=look)


def test_a_retried_passage_swipes(snap_compare, tmp_path: Path) -> None:
    """After `retry` the last passage is written again in its own place, marked with its
    version and the arrows that swipe between versions ("(2/2 ←→)")."""

    async def retry(pilot) -> None:
        await _settle(pilot)
        for command in ("dance", "retry"):
            await pilot.press(*command, "enter")
            await _settle(pilot)

    app = _app(tmp_path, show_title=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=retry)
