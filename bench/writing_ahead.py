"""Writing ahead at a human pace: how many first visits to a room find their line written.

The shipped walkthrough is played through a ``PlaySession`` as the TUI plays it: the
narrator writes on its own threads, its reports come back to the game's thread, writing
ahead starts once nothing is narrated (after the TUI's idle wait), and the next command
comes a fixed time after the last (``--pace``, 4 s: a quick reader). A first visit is a
hit when the room's description was already in the game's cache as the player stepped in
(written ahead); ``sampling.colour`` is on, so every room is the narrator's to write. A
miss whose line was begun ahead and taken over (the player walked into the room being
written) is counted apart, and every first visit's wait for its room's line is timed
(0 for a hit; the pace when it did not come before the next command).

``--fake-speed N`` plays with a paced stand-in for the narrator instead of a model: every
line is ``--fake-tokens`` tokens written at N tokens a second after a first token of
``--fake-first-ms``, whatever its kind and however it is asked (streamed or not), cancel
and ``ContentRequest.begun`` honoured. It measures the order and priority of writing ahead
apart from the machine's load; a real narrator's unstreamed five-row batch costs more than
its one streamed line, which this stand-in does not charge.

Examples::

    python -m bench.writing_ahead --model narrator --pace 4
    python -m bench.writing_ahead --fake-speed 15 --pace 4
"""

from __future__ import annotations

import argparse
import queue
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from bench.report import machine_line

REPO = Path(__file__).resolve().parent.parent
WALKTHROUGH = REPO / "tests" / "functional" / "walkthrough.txt"
IDLE_S = 0.4  # the TUI's PREFETCH_IDLE_S: writing ahead starts this long after the prose


@dataclass
class Visits:
    """First visits to rooms, and which found their description written ahead."""

    rooms: list[str] = field(default_factory=list)
    hits: list[str] = field(default_factory=list)
    taken_over: list[str] = field(default_factory=list)
    """Misses whose line was being written ahead and was taken over, shown so far."""
    waits: list[float] = field(default_factory=list)
    """Seconds from each first visit's command to the end of its room's line."""
    written_ahead: int = 0

    @property
    def rate(self) -> float:
        return len(self.hits) / len(self.rooms) if self.rooms else float("nan")


class PacedNarrator:
    """A stand-in narrator at a fixed speed (``--fake-speed``): see the module's notes."""

    name = "paced"
    backend = "paced"
    device = "cpu"
    dtype = ""
    quantized = False
    resumes = True
    threads = 0
    load_ms = 0.0
    notice = ""
    path = None

    def __init__(self, tokens_per_s: float, tokens: int, first_ms: float) -> None:
        self.step_s = 1.0 / tokens_per_s
        self.tokens = tokens
        self.first_s = first_ms / 1000

    def generate(self, request, on_text=None, cancel=None):
        from textgamegen.narration.generator import Candidate, Narration

        cancel = cancel or threading.Event()
        # The base commit's requests have no ``begun``: the same bench measures both.
        begun = getattr(request, "begun", "")
        words = begun.split()
        if begun and on_text is not None:
            on_text(begun)
        cancelled = cancel.wait(self.first_s)
        while not cancelled and len(words) < self.tokens:
            if cancel.wait(self.step_s):
                cancelled = True
                break
            word = f"w{len(words)}"
            if on_text is not None:
                on_text(f" {word}" if words else word)
            words.append(word)
        text = " ".join(words) + ("" if cancelled else ".")
        if cancelled:
            return Narration(request, text, cancelled=True, backend=self.backend, model=self.name)
        return Narration(request, text, [Candidate(text)], backend=self.backend, model=self.name)


def commands(path: Path = WALKTHROUGH) -> list[str]:
    return [
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith(("#", "?"))
    ]


def play(generator, pace_s: float, limit: int = 0, seed: int = 1) -> Visits:
    """Play the walkthrough at ``pace_s`` seconds a command; count first-visit hits."""
    from textgamegen.engine.descriptions import room_description
    from textgamegen.engine.game import Game
    from textgamegen.engine.world import load_world
    from textgamegen.engine.worlds import DEFAULT_WORLD, find_world
    from textgamegen.play.narration_queue import (
        NarrationCompleted,
        NarrationDropped,
        NarrationFailed,
        NarrationStarted,
        Prefetched,
        start_thread,
    )
    from textgamegen.play.session import PlaySession

    reports: queue.Queue = queue.Queue()
    game = Game.new(load_world(find_world(DEFAULT_WORLD)), seed=seed)
    session = PlaySession(game, start=start_thread, relay=reports.put)
    session.use_generator(generator)
    visits = Visits()
    seen = {game.room().key}
    waiting: dict[str, float] = {}  # a first visit's room key -> when its command came

    def drain(until: float) -> None:
        """Settle reports on this thread (as the TUI does) until ``until``; start writing
        ahead once nothing is narrated for ``IDLE_S``."""
        idle_since: float | None = None
        while (now := time.monotonic()) < until:
            try:
                report = reports.get(timeout=min(0.05, max(0.0, until - now)))
            except queue.Empty:
                report = None
            if isinstance(report, Prefetched):
                if session.take_prefetched(report):
                    visits.written_ahead += 1
            elif isinstance(report, NarrationStarted):
                key = report.job.request.cache_key
                # The base commit's jobs have no ``ahead``.
                if key in waiting and getattr(report.job, "ahead", ""):
                    visits.taken_over.append(key)
            elif isinstance(report, (NarrationCompleted, NarrationFailed, NarrationDropped)):
                session.settle(report)
                key = report.job.request.cache_key
                if key in waiting:
                    visits.waits.append(time.monotonic() - waiting.pop(key))
            if session.narrating or session.prefetching:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= IDLE_S:
                session.prefetch()
                idle_since = None
        for key in list(waiting):
            visits.waits.append(pace_s)  # its line did not come before the next command
            del waiting[key]

    session.take(game.intro())
    drain(time.monotonic() + pace_s)
    for number, command in enumerate(commands()):
        if limit and number >= limit:
            break
        before = set(game.cache)
        started = time.monotonic()
        session.step(command)
        room = game.room()
        if room.key not in seen:
            seen.add(room.key)
            visits.rooms.append(room.key)
            key = room_description(game, room).cache_key
            if key in before:
                visits.hits.append(room.key)
                visits.waits.append(0.0)
            elif key:
                waiting[key] = started
        drain(started + pace_s)
    session.close()
    return visits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.writing_ahead",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", default="narrator")
    parser.add_argument("--pace", type=float, default=4.0, help="seconds between commands")
    parser.add_argument("--limit", type=int, default=0, help="commands to play (0: all)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--quantize", default="auto")
    parser.add_argument(
        "--fake-speed",
        type=float,
        default=0.0,
        help="play with a paced stand-in narrator at this many tokens a second (0: the model)",
    )
    parser.add_argument("--fake-tokens", type=int, default=30, help="tokens in each fake line")
    parser.add_argument(
        "--fake-first-ms", type=float, default=150.0, help="the fake's time to its first token"
    )
    args = parser.parse_args(argv)
    if args.pace <= 0 or args.fake_speed < 0 or args.fake_tokens < 1 or args.fake_first_ms < 0:
        parser.error("--pace must be above 0, and the --fake-* figures 0 or more")

    if args.fake_speed:
        generator = PacedNarrator(args.fake_speed, args.fake_tokens, args.fake_first_ms)
        label = (
            f"paced stand-in ({args.fake_speed:g} tok/s, {args.fake_tokens} tokens a line, "
            f"first token {args.fake_first_ms:g} ms)"
        )
    else:
        from textgamegen.config import SamplingSettings
        from textgamegen.models.loader import load_generator

        sampling = replace(SamplingSettings(), colour=True)
        generator = load_generator(
            args.model,
            "cpu",
            sampling,
            dtype=args.dtype,
            quantize=args.quantize,
            threads=args.threads,
        )
        label = f"{args.model} ({generator.dtype})"
    visits = play(generator, args.pace, args.limit)
    print(machine_line())
    wait = statistics.median(visits.waits) if visits.waits else float("nan")
    print(
        f"{label}, one command every {args.pace:g} s: "
        f"{len(visits.hits)} of {len(visits.rooms)} first visits found their line written "
        f"ahead ({visits.rate * 100:.0f}%), {len(visits.taken_over)} more took over a line "
        f"being written; median wait for a first visit's line {wait:.2f} s; "
        f"{visits.written_ahead} descriptions written ahead"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
