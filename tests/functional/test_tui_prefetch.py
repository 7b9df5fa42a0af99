"""Writing ahead while the player reads: the idle prefetch worker of the game screen.

A test double stands in for the model (any backend but the template is prefetched). The
tests check that a room written ahead shows from the cache the moment the player walks in,
that walking into the room being written ahead shows that line as it is finished, that a
command asking for other prose cancels the prefetch at once and the model never runs two
requests at the same time, that nothing written ahead reaches the story log, and that the setting,
the template narrator and scripted playthroughs all mean no prefetch.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
from fakes import CountingGenerator
from pilot_helpers import make_app as make_pilot_app
from pilot_helpers import of_type, wait_until
from textual.message import Message
from textual.widgets import Switch

from textgamegen.engine.content import ContentRequest
from textgamegen.engine.game import Game
from textgamegen.engine.world import load_world
from textgamegen.engine.worlds import DEFAULT_WORLD, find_world
from textgamegen.narration.generator import Narration
from textgamegen.narration.template import TemplateGenerator
from textgamegen.play.script import run_script
from textgamegen.ui.app import TextGameGenApp
from textgamegen.ui.screens.game import GameScreen
from textgamegen.ui.screens.settings import SettingsScreen
from textgamegen.ui.widgets.story_log import StoryLog

WALKTHROUGH = Path(__file__).parent / "walkthrough.txt"


# Writing ahead is on here (the other pilots turn it off to count narrations).
make_app = partial(make_pilot_app, model="counting", prefetch=True)


def screen_of(app: TextGameGenApp) -> GameScreen:
    assert isinstance(app.screen, GameScreen)
    return app.screen


async def test_a_prefetched_room_shows_from_the_cache_at_once(tmp_path: Path) -> None:
    messages: list[Message] = []
    generator = CountingGenerator()
    app = make_app(tmp_path, generator)
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        game = app.game
        assert game is not None
        direction, exit_ = next(iter(game.room().exits.items()))
        key = f"room:{exit_.to}"
        await wait_until(pilot, lambda: key in game.cache)
        assert key in screen_of(app).play.prefetched
        ahead = game.cache[key]
        log = app.screen.query_one(StoryLog)
        assert ahead not in log.plain_text()  # written ahead, never shown in the log
        assert ahead not in game.story()
        started = len(of_type(messages, StoryLog.NarrationStarted))

        await pilot.press(*direction, "enter")
        await pilot.pause()
        # Shown with the step itself, before any narration could have started.
        assert ahead in log.plain_text()
        assert ahead in game.story()
        narrated = [m.job.request.cache_key for m in of_type(messages, StoryLog.NarrationStarted)]
        assert key not in narrated[started:]
        assert generator.most_at_once == 1


async def test_prefetch_writes_nothing_into_the_log(tmp_path: Path) -> None:
    messages: list[Message] = []
    generator = CountingGenerator()
    app = make_app(tmp_path, generator)
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        log = app.screen.query_one(StoryLog)
        await wait_until(pilot, lambda: not log.is_narrating)
        paragraphs = len(log.paragraphs())
        game = app.game
        assert game is not None
        await wait_until(pilot, lambda: game.prefetch_requests() == [])
        assert len(log.paragraphs()) == paragraphs
        prefetched = {request.cache_key for request in generator.prefetched()}
        assert prefetched and prefetched <= set(game.cache)
        # Prefetch reports no narration messages: the model panel and status stay quiet.
        narrated = {m.job.request.cache_key for m in of_type(messages, StoryLog.NarrationStarted)}
        assert not prefetched & narrated
        assert of_type(messages, StoryLog.NarrationStreamed)  # the intro did stream


async def test_a_command_cancels_the_prefetch_at_once(tmp_path: Path) -> None:
    messages: list[Message] = []
    generator = CountingGenerator(hold_ahead=True)  # writing ahead ends only by a cancel
    app = make_app(tmp_path, generator)
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        play = screen_of(app).play
        await wait_until(pilot, lambda: play.prefetching and generator.running == 1)
        first = generator.prefetched()[0]
        await pilot.press(*"sing", "enter")  # free-form: a narrated action
        await wait_until(
            pilot,
            lambda: any(
                m.narration.request.command == "sing"
                for m in of_type(messages, StoryLog.NarrationCompleted)
            ),
        )
        # The held prefetch could not have finished: the command cancelled it, and the
        # action was narrated after it, never beside it.
        assert not generator.release.is_set()
        assert first in generator.cancelled
        assert not of_type(messages, StoryLog.Prefetched)
        assert generator.most_at_once == 1
        game = app.game
        assert game is not None and first.cache_key not in game.cache


async def test_walking_into_the_room_being_written_ahead_shows_that_line(tmp_path: Path) -> None:
    messages: list[Message] = []
    generator = CountingGenerator(hold_ahead=True)  # its first word, then held
    app = make_app(tmp_path, generator)
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        game = app.game
        assert game is not None
        play = screen_of(app).play
        await wait_until(pilot, lambda: play.prefetching and generator.running == 1)
        (first,) = generator.prefetched()
        direction = first.command.removeprefix("go ")
        await pilot.press(*direction, "enter")  # into the room being written
        await wait_until(pilot, lambda: play.narrating_keys() == {first.cache_key})
        generator.release.set()
        await wait_until(pilot, lambda: not play.narrating)
        line = generator.text_for(first)
        # The line goes on to its end and is shown once, as the player's own; it is not
        # written a second time.
        assert [request.cache_key for request, _ in generator.calls].count(first.cache_key) == 1
        assert game.cache[first.cache_key] == line
        assert screen_of(app).story.plain_text().count(line) == 1
        done = of_type(messages, StoryLog.NarrationCompleted)
        assert [m.narration.text for m in done if m.job.request.cache_key == first.cache_key] == [
            line
        ]
        assert generator.most_at_once == 1


async def test_the_setting_turns_prefetch_off(tmp_path: Path) -> None:
    generator = CountingGenerator()
    app = make_app(tmp_path, generator, prefetch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        log = app.screen.query_one(StoryLog)
        await wait_until(pilot, lambda: not log.is_narrating and generator.calls)
        await pilot.pause()  # the screen has handled the narration's end
        # The narrator is idle and no timer is set to write ahead when the player pauses.
        assert screen_of(app)._prefetch_timer is None
        assert generator.prefetched() == [] and not screen_of(app).play.prefetching
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen))
        await pilot.pause()
        switch = app.screen.query_one("#setting-prefetch", Switch)
        assert switch.value is False
        label = switch.parent.children[0] if switch.parent else None
        assert label is not None and "ahead of time" in str(label.tooltip)


async def test_the_template_narrator_is_never_prefetched(tmp_path: Path) -> None:
    class Template(TemplateGenerator):
        def __init__(self) -> None:
            super().__init__()
            self.requests: list[ContentRequest] = []

        def generate(self, request, on_text=None, cancel=None) -> Narration:
            self.requests.append(request)
            return super().generate(request, on_text, cancel)

    generator = Template()
    app = make_app(tmp_path, generator)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        log = app.screen.query_one(StoryLog)
        await wait_until(pilot, lambda: not log.is_narrating and generator.requests)
        # Asked to write ahead (what the idle timer does), the session declines.
        assert screen_of(app).play.prefetch() is False
        assert len(generator.requests) == 1  # the opening room only
        assert not screen_of(app).play.prefetching


def test_scripted_playthroughs_never_prefetch(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Game, limit: int = 0) -> list[ContentRequest]:
        raise AssertionError("a scripted playthrough asked for prefetch requests")

    monkeypatch.setattr(Game, "prefetch_requests", refuse)
    game = Game.new(load_world(find_world(DEFAULT_WORLD)), seed=0, autosave=False)
    report = run_script(WALKTHROUGH, game, TemplateGenerator())
    assert report.ok and report.won
