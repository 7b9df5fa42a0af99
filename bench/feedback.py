"""Feedback recording: what it costs a turn, against the same turn not recorded.

A turn is what the scripted runner and the TUI do, through the same ``PlaySession``:
``Game.step`` plus writing every prose request and handing it back, here with the template
narrator (instant), so that the recorder's share of a turn is as large as it can be; a
model's narration takes 50-500 ms more. Each run plays the walkthrough once recorded (a
``FeedbackSession`` over a ``Recorder`` on a fresh database) and once not, alternately,
and takes the median ms per turn; the figures are the medians over runs. The database
write itself happens on the recorder's thread and is timed apart (flush after the run),
since the player never waits for it.

Example::

    python -m bench --only feedback --runs 7
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench.measure import Figure, paired_ratios, ratio
from bench.report import Section

if TYPE_CHECKING:
    from textgamegen.play.feedback import FeedbackSession

WALKTHROUGH = Path(__file__).resolve().parent.parent / "tests" / "functional" / "walkthrough.txt"


def _commands() -> list[str]:
    from textgamegen.play.script import read_script

    return [line for _, line in read_script(WALKTHROUGH) if not line.startswith("?")]


def _play(commands: list[str], feedback: FeedbackSession | None) -> list[float]:
    """ms per turn for one playthrough (step, narrate, hand back, and record if asked)."""
    from textgamegen.engine.game import Game
    from textgamegen.engine.world import load_world
    from textgamegen.engine.worlds import DEFAULT_WORLD, find_world
    from textgamegen.narration.template import TemplateGenerator
    from textgamegen.play.session import PlaySession

    game = Game.new(load_world(find_world(DEFAULT_WORLD)), seed=1, autosave=False)
    # As play --script runs: each step returns with its prose written and handed back.
    session = PlaySession(game, feedback=feedback, stream=False)
    session.use_generator(TemplateGenerator())
    times = []
    for command in commands:
        started = time.perf_counter()
        session.step(command)
        session.take_passages()
        times.append((time.perf_counter() - started) * 1000)
    return times


def run(runs: int) -> Section:
    from textgamegen.feedback.recorder import Recorder
    from textgamegen.play.feedback import FeedbackSession

    commands = _commands()
    plain = Figure("turn, not recorded (median per turn)", "ms")
    recorded = Figure("turn, recorded (median per turn)", "ms", goal="<= +0.5 ms")
    plain_total = Figure("whole walkthrough, not recorded", "ms")
    recorded_total = Figure("whole walkthrough, recorded", "ms")
    writes = Figure("recorder thread: write the run's records (flush)", "ms")
    rows = 0
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(runs):
            recorder = Recorder(Path(tmp) / f"feedback-{index}.db")
            recorder.flush()  # the database is open before the clock starts, as in play
            session = FeedbackSession(recorder, world="lanternfall")
            pair = [("recorded", session), ("plain", None)]
            for name, observer in pair if index % 2 else reversed(pair):
                times = _play(commands, observer)
                (recorded if name == "recorded" else plain).runs.append(statistics.median(times))
                total = recorded_total if name == "recorded" else plain_total
                total.runs.append(sum(times))
            started = time.perf_counter()
            recorder.flush(timeout=60)
            writes.runs.append((time.perf_counter() - started) * 1000)
            recorder.close()
            rows = recorder.written
    recorded.met = recorded.median - plain.median <= 0.5
    section = Section("Feedback recording (per turn, template narrator)")
    section.figures = [plain, recorded, plain_total, recorded_total, writes]
    section.ratios = {
        "recorded / not recorded, per turn": ratio(recorded, plain),
        "recorded / not recorded, whole walkthrough": ratio(recorded_total, plain_total),
        "recorded / not recorded, per turn, paired median": statistics.median(
            paired_ratios(recorded, plain)
        ),
    }
    section.notes = [
        f"{len(commands)} turns per run, {rows} records per run written in "
        "batches on the recorder's thread"
    ]
    return section
