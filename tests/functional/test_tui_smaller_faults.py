"""Issue 21, section 7, TUI side: F1 on the title screen, a footer that fits 80x24, and a
second Tab that cycles. Each test fails on the TUI before the fix it names."""

from __future__ import annotations

from pathlib import Path

from fakes import ScriptedGenerator
from pilot_helpers import make_app, wait_until

from textgamegen.ui.screens.help import HelpScreen
from textgamegen.ui.screens.title import TitleScreen


async def test_f1_opens_help_on_the_title_screen(tmp_path: Path) -> None:
    app = make_app(tmp_path, generator=ScriptedGenerator(), show_title=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TitleScreen))
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        # The help of the world a new game is played in, its own verbs too.
        assert "`light`" in app.screen.text
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, TitleScreen))
