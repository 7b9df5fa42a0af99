"""Feedback from several games at once: how many narrations reach the database.

Each game is a process of its own with its own ``Recorder`` on one shared
``feedback.db``, as when a player runs several games, or ``serve`` hosts several tabs, on
one machine. Every game records a few thousand narrations a second (a player makes one
every few seconds), in small batches (the worst case for lock contention); meanwhile
another connection holds the database's write lock for ``--lock-s`` seconds, longer than
the recorder's busy timeout, as a sqlite3 shell or a long query could. The figure is
the narrations recorded against those asked for: lost = asked - rows in the database.

Example::

    python -m bench.feedback_writers --games 4 --narrations 10000 --lock-s 2
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

GAME = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from textgamegen.feedback.recorder import Recorder
    path, game, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    recorder = Recorder(path, flush_s=0.005, batch_size=8)
    print("started", flush=True)
    for index in range(count):
        recorder.narration(model="m", kind="action", text=f"{game} line {index}.", session=game)
        if index % 4 == 3:
            time.sleep(0.001)  # thousands a second: far past any player, short of a flood
    recorder.close(timeout=120)
    print(json.dumps({"game": game, "asked": count, "written": recorder.written,
                      "dropped": recorder.dropped, "retries": recorder.retries,
                      "enabled": recorder.enabled, "notices": recorder.take_notices()}))
    """
)


def _rows(path: Path) -> int:
    db = sqlite3.connect(path, timeout=30)
    try:
        return int(db.execute("SELECT count(*) FROM narrations").fetchone()[0])
    finally:
        db.close()


def record_at_once(path: Path, games: int, narrations: int, lock_s: float) -> dict[str, Any]:
    """Run ``games`` recording processes at once on ``path``; hold the write lock for
    ``lock_s`` seconds once they have all started. Returns the counts per game and in all.
    """
    from textgamegen.feedback import store

    store.connect(path).close()  # the schema exists before the games race to make it
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", GAME, str(path), f"game{index}", str(narrations)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for index in range(games)
    ]
    for process in processes:
        assert process.stdout is not None
        process.stdout.readline()  # "started": its recorder is running
    if lock_s > 0:
        holder = sqlite3.connect(path, isolation_level=None, timeout=30)
        holder.execute("BEGIN IMMEDIATE")
        time.sleep(lock_s)
        holder.execute("COMMIT")
        holder.close()
    reports = []
    for process in processes:
        out, _ = process.communicate(timeout=600)
        if process.returncode != 0:
            raise RuntimeError(f"a game exited with {process.returncode}")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    asked = games * narrations
    recorded = _rows(path)
    return {
        "games": games,
        "narrations_each": narrations,
        "lock_s": lock_s,
        "asked": asked,
        "recorded": recorded,
        "lost": asked - recorded,
        "dropped": sum(report["dropped"] for report in reports),
        "retries": sum(report["retries"] for report in reports),
        "per_game": reports,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.feedback_writers", description=__doc__)
    parser.add_argument("--games", type=int, default=4)
    parser.add_argument("--narrations", type=int, default=10_000, help="per game")
    parser.add_argument("--lock-s", type=float, default=2.0, help="hold the write lock this long")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        result = record_at_once(
            Path(folder) / "feedback.db", args.games, args.narrations, args.lock_s
        )
        seconds = time.perf_counter() - started
    print(
        f"{result['games']} games x {result['narrations_each']} narrations, write lock held "
        f"{result['lock_s']:g} s: {result['recorded']} of {result['asked']} recorded, "
        f"{result['lost']} lost ({result['dropped']} dropped, {result['retries']} retries "
        f"on a lock), {seconds:.1f} s"
    )
    return 0 if result["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
