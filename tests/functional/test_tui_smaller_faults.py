"""Smaller faults, TUI side: F1 on the title screen, a footer that fits 80x24, and a
second Tab that cycles. Each test fails on the TUI before the fix it names."""

from __future__ import annotations

from pathlib import Path

from fakes import ScriptedGenerator
from pilot_helpers import make_app, narration_done, wait_until
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from textgamegen.ui.screens.game import GameScreen
from textgamegen.ui.screens.help import HelpScreen
from textgamegen.ui.screens.title import TitleScreen
from textgamegen.ui.widgets.command_input import CommandInput
from textgamegen.ui.widgets.status_bar import StatusBar


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


def footer_fits(app) -> bool:
    """Every key the footer shows is whole on screen: nothing to scroll to, nothing cut."""
    footer = app.screen.query_one(Footer)
    keys = list(footer.query(FooterKey))
    width = app.size.width
    return (
        bool(keys)
        and footer.max_scroll_x == 0
        and all(key.region.x >= 0 and key.region.right <= width for key in keys)
        and all(key.region.width > 0 for key in keys)
    )


async def test_the_footer_and_status_bar_fit_80_by_24(tmp_path: Path) -> None:
    slow = ScriptedGenerator(delay=0.05, words=200)  # ten seconds of prose: time to look
    app = make_app(tmp_path, generator=slow, show_title=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TitleScreen))
        await pilot.pause()
        assert footer_fits(app), "the title screen's footer"
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        screen = app.screen
        status = screen.query_one(StatusBar)
        await wait_until(pilot, lambda: status.narrating)
        await pilot.pause()
        assert footer_fits(app), "the game screen's footer"
        shown = {key.description for key in screen.query_one(Footer).query(FooterKey)}
        assert {"Help", "Save", "Load", "Quit"} <= shown, shown
        # Esc is named where it applies: the status bar, while prose is written.
        assert status.plain.endswith("(Esc stops)")
        assert len(status.plain) <= status.region.width, status.plain
        field = screen.query_one(CommandInput)
        assert len(field.placeholder) <= field.content_region.width, field.placeholder
        await pilot.press("escape")
        await wait_until(pilot, lambda: narration_done(app))


async def test_a_second_tab_moves_on_to_another_completion(tmp_path: Path) -> None:
    app = make_app(tmp_path, generator=ScriptedGenerator())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: narration_done(app))
        field = app.screen.query_one(CommandInput)
        # "s" is itself a word (south): the first Tab lists the options, the second
        # moves to another one, not to "s " (which looked as if Tab did nothing).
        await pilot.press("s", "tab")
        assert field.value == "s"
        await pilot.press("tab")
        assert field.value.strip() not in ("s", ""), field.value
        first = field.value
        await pilot.press("tab")
        assert field.value not in (first, "s "), field.value
        # "tal" completes to "talk", a word of its own: Tab again goes on to "talk to".
        field.value = ""
        await pilot.press(*"tal", "tab")
        assert field.value == "talk"
        await pilot.press("tab")
        assert field.value == "talk to "
        await pilot.press("tab")
        assert field.value == "talk with "
        await pilot.press("tab")
        assert field.value == "talk ", "and round again"
