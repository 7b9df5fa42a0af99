"""Swiping: ``retry`` writes the last passage again in its own place, and Left/Right on an
empty line (or ``previous``/``next``) go back and forth between the versions written."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

from fakes import ScriptedGenerator
from pilot_helpers import make_app, narration_done, story, type_command, wait_until
from textual.app import App

from textgamegen.engine.content import ContentRequest
from textgamegen.narration.generator import Narration, TextSink
from textgamegen.ui.widgets.story_log import Paragraph


class Versions(ScriptedGenerator):
    """Writes "Version N of SUBJECT." for its Nth request, so versions can be told apart."""

    def generate(
        self,
        request: ContentRequest,
        on_text: TextSink | None = None,
        cancel: threading.Event | None = None,
    ) -> Narration:
        narration = super().generate(request, on_text, cancel)
        return replace(narration, text=f"Version {len(self.calls)} of {request.subject}.")


def prose(app: App) -> list[Paragraph]:
    return [p for p in story(app).paragraphs() if p.has_class("prose") and p.display]


async def test_retry_replaces_the_passage_and_the_arrows_swipe(tmp_path: Path) -> None:
    generator = Versions()
    app = make_app(tmp_path, generator=generator)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: narration_done(app))
        await type_command(pilot, "wave at the gulls")
        await wait_until(pilot, lambda: narration_done(app))
        before = len(prose(app))
        attempt = prose(app)[-1]
        first = attempt.text
        assert first.startswith("Version ")

        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: narration_done(app) and attempt.text != first)
        # Written in the same paragraph, not as a second line below.
        assert len(prose(app)) == before and prose(app)[-1] is attempt
        second = attempt.text
        assert attempt.versions == [first, second] and attempt.at == 1
        assert "(2/2 ←→)" in str(attempt.render())

        await pilot.press("left")  # the line is empty: the arrows swipe
        assert attempt.text == first and attempt.at == 0
        await pilot.press("left")  # no earlier version: it stays
        assert attempt.text == first
        await type_command(pilot, "next")
        assert attempt.text == second
        await type_command(pilot, "previous")
        assert attempt.text == first
        assert "> next" not in story(app).plain_text()  # a swipe is not a command

        await pilot.press(*"ab", "left")  # with text on the line, Left moves the cursor
        assert attempt.text == first


async def test_the_version_swiped_to_is_the_one_replayed(tmp_path: Path) -> None:
    app = make_app(tmp_path, generator=Versions())
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: narration_done(app))
        game = app.game
        assert game is not None
        await type_command(pilot, "n")
        await wait_until(pilot, lambda: narration_done(app))
        written = [p for p in prose(app) if p.request and p.request.cache_key]
        room = written[-1]
        key = room.request.cache_key if room.request else None
        first = room.text
        assert key and game.cache[key] == first
        await type_command(pilot, "retry")
        await wait_until(pilot, lambda: narration_done(app) and room.text != first)
        assert game.cache[key] == room.text != first
        await pilot.press("left")
        assert room.text == first and game.cache[key] == first
