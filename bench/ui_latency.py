"""UI latency: key press to an updated screen, in a headless pilot, while prose is generated.

The real app runs with the real generator; a command is submitted so a narration worker is
busy, and only key presses made while it is still running are counted. Each sample is the
time from the key entering the app's queue to the first screen refresh after the command
line took it.

Example::

    python -m bench --only ui --runs 200
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from bench.measure import Figure
from bench.report import Section


async def _measure(model: str, presses: int) -> tuple[Figure, int]:
    from textgamegen.config import Settings
    from textgamegen.engine.world import load_world
    from textgamegen.engine.worlds import DEFAULT_WORLD, find_world
    from textgamegen.ui.app import Launch, TextGameGenApp
    from textgamegen.ui.widgets.command_input import CommandInput
    from textgamegen.ui.widgets.story_log import StoryLog

    figure = Figure(
        f"key press -> screen updated, during generation ({model})", "ms", goal="p99 <= 10 ms"
    )
    kicked = 0
    with tempfile.TemporaryDirectory() as tmp:
        launch = Launch(
            world=load_world(find_world(DEFAULT_WORLD)),
            settings=Settings(),
            saves_dir=Path(tmp),
            model=model,
            device="cpu",
        )
        app = TextGameGenApp(launch, show_title=False)
        async with app.run_test(size=(120, 40)) as pilot:
            deadline = time.monotonic() + 120
            while app.generator is None and time.monotonic() < deadline:
                await pilot.pause(0.05)
            screen = app.screen
            log = screen.query_one(StoryLog)
            command = screen.query_one(CommandInput)
            letters = "abcdefghijklmnopqrstuvwxyz"
            while len(figure.runs) < presses and time.monotonic() < deadline + 300:
                if not log.is_narrating:
                    # A free-form action is narrated every time ("look" is cached after
                    # the first description); clear what was typed first.
                    command.value = ""
                    screen.run_command("sing")
                    kicked += 1
                    await asyncio.sleep(0.05)  # let the worker start streaming
                    continue
                elapsed = await _key_to_screen(app, command, letters[len(figure.runs) % 26])
                if log.is_narrating:  # the generation ran through the whole sample
                    figure.runs.append(elapsed)
    return figure, kicked


async def _key_to_screen(app, command, letter: str) -> float:
    """Milliseconds from a key reaching the app to the screen refreshed with it.

    ``pilot.press`` waits for every message queue to go idle, which never happens while
    prose streams in, so the key goes straight to the driver's queue, as a real terminal's
    would, and the clock stops at the first refresh after the input took it.
    """
    from textual import events

    before = command.value
    refreshed = asyncio.Event()
    event = events.Key(letter, letter)
    event.set_sender(app)
    started = time.perf_counter()
    app._driver.send_message(event)
    while command.value == before:
        await asyncio.sleep(0)
    app.call_after_refresh(refreshed.set)
    await refreshed.wait()
    return (time.perf_counter() - started) * 1000


def run(presses: int, model: str = "textgamegen") -> Section:
    figure, kicked = asyncio.run(_measure(model, presses))
    p99 = figure.percentile(99)
    figure.met = p99 <= 10.0
    section = Section("UI latency while generating")
    section.figures = [figure]
    section.notes.append(
        f"p50 {figure.percentile(50):.2f} ms, p99 {p99:.2f} ms over "
        f"{len(figure.runs)} key presses; {kicked} narrations started"
    )
    return section
