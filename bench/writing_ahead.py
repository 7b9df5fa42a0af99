"""Writing ahead at a human pace: how many first visits to a room find their line written.

The shipped walkthrough is played through a ``PlaySession`` as the TUI plays it: the
narrator writes on its own threads, its reports come back to the game's thread, writing
ahead starts once nothing is narrated (after the TUI's idle wait), and the next command
comes a fixed time after the last (``--pace``, 4 s: a quick reader). A first visit is a
hit when the room's description was already in the game's cache as the player stepped in
(written ahead); ``sampling.colour`` is on, so every room is the narrator's to write.

Example::

    python -m bench.writing_ahead --model narrator --pace 4
"""

from __future__ import annotations

import argparse
import queue
import sys
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
    written_ahead: int = 0

    @property
    def rate(self) -> float:
        return len(self.hits) / len(self.rooms) if self.rooms else float("nan")


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
            elif isinstance(report, (NarrationCompleted, NarrationFailed, NarrationDropped)):
                session.settle(report)
            if session.narrating or session.prefetching:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= IDLE_S:
                session.prefetch()
                idle_since = None

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
        drain(started + pace_s)
    session.close()
    return visits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.writing_ahead", description=__doc__)
    parser.add_argument("--model", default="narrator")
    parser.add_argument("--pace", type=float, default=4.0, help="seconds between commands")
    parser.add_argument("--limit", type=int, default=0, help="commands to play (0: all)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--quantize", default="auto")
    args = parser.parse_args(argv)

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
    visits = play(generator, args.pace, args.limit)
    print(machine_line())
    print(
        f"{args.model} ({generator.dtype}), one command every {args.pace:g} s: "
        f"{len(visits.hits)} of {len(visits.rooms)} first visits found their line written "
        f"ahead ({visits.rate * 100:.0f}%); {visits.written_ahead} descriptions written ahead"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
