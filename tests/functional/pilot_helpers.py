"""Helpers shared by the TUI pilot tests: the app under test, typing a command, and waiting
on a condition (never a fixed sleep).

A plain module, not ``conftest.py``: test modules import these by name, and two
``conftest`` modules (``tests/`` and ``tests/functional/``) cannot both be imported as
``conftest``. The player's folders come from the autouse ``player_dirs`` fixture in
``tests/conftest.py``; the fake generators from ``tests/fakes.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App
from textual.command import CommandList, CommandPalette
from textual.message import Message
from textual.widgets import Input

from textgamegen.config import Settings
from textgamegen.engine.world import load_world
from textgamegen.engine.worlds import DEFAULT_WORLD, find_world
from textgamegen.narration.generator import Generator
from textgamegen.ui.app import Launch, TextGameGenApp
from textgamegen.ui.screens.game import GameScreen
from textgamegen.ui.widgets.story_log import StoryLog


def make_app(
    folder: Path,
    generator: Generator | None = None,
    *,
    loader: Callable[[str, str, Settings], Generator] | None = None,
    show_title: bool = False,
    model: str = "template",
    **settings: Any,
) -> TextGameGenApp:
    """The app on the shipped world (seed 7), saving into ``folder / "saves"``.

    ``settings`` are the player's settings beyond the model; writing ahead is off unless
    ``prefetch=True``, since most pilots count narrations (test_tui_prefetch.py has it on).
    """
    launch = Launch(
        world=load_world(find_world(DEFAULT_WORLD)),
        settings=Settings(model=model, device="cpu", **{"prefetch": False, **settings}),
        saves_dir=folder / "saves",
        seed=7,
        model=model,
        device="cpu",
    )
    return TextGameGenApp(launch, generator=generator, loader=loader, show_title=show_title)


async def type_command(pilot, command: str) -> None:
    await pilot.press(*command)
    await pilot.press("enter")


def story(app: TextGameGenApp) -> StoryLog:
    return app.screen.query_one(StoryLog)


async def wait_until(pilot, predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    """Let the app run until ``predicate()`` holds; fail after ``timeout`` seconds (a guard
    against a hang, so generous that a loaded machine never meets it: never a speed bound)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.02)


def of_type(messages: list[Message], kind: type) -> list:
    """Messages of a kind, once each (the hook sees a message at every node it bubbles to)."""
    unique = {id(message): message for message in messages if isinstance(message, kind)}
    return list(unique.values())


def palette_searched(app: App, query: str) -> bool:
    """The command palette shows ``query`` and has finished searching for it, with hits
    (pressing Enter earlier could pick a hit of a half-typed query)."""
    palette = app.screen
    if not isinstance(palette, CommandPalette) or palette.query_one(Input).value != query:
        return False
    searching = any(worker.node is palette and not worker.is_finished for worker in app.workers)
    return not searching and palette.query_one(CommandList).option_count > 0


def narration_done(app: App) -> bool:
    """The game screen is up and nothing is being narrated."""
    screen = app.screen
    return isinstance(screen, GameScreen) and not screen.query_one(StoryLog).is_narrating
