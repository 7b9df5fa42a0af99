"""Memory soak: play thousands of turns headless and watch the process's RSS.

Each turn is one command through a ``PlaySession``, as ``play --script`` plays:
``Game.step``, and every prose request written by the generator and handed back. Commands
cycle through looking, examining, moving and free-form actions; the prose cache is cleared
every 50 turns so the model keeps writing (about 4 narrations in 10 turns). RSS (VmRSS
from /proc/self/status) and Python's own allocations (``sys.getallocatedblocks``) are
recorded at turns 1, 100, 500, 1,000, 2,000 ... and every ``--every`` turns. The verdict
is the RSS growth from turn 1,000 to the last turn (goal: under 10%).

``--compare`` runs the game's defaults (capped oneDNN caches, see
``textgamegen/models/native_memory.py``) against torch's defaults
(``TEXTGAMEGEN_NATIVE_DEFAULTS=1``). Memory cannot be measured across processes, so each
configuration runs in its own child process, both at once (same seed, same commands, the
same CPU contention, so their wall times compare).

Examples::

    nice -n 10 python -m bench.soak --model template --turns 5000
    nice -n 10 python -m bench.soak --model textgamegen --turns 5000 --compare
    nice -n 10 python -m bench.soak --model textgamegen --turns 400 --every 100 --dtype float32
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

CHECKPOINTS = (1, 100, 500, 1000, 2000, 3000, 4000, 5000, 7500, 10000)
# Lanternfall commands that make the narrator write: rooms, things, people, free actions.
COMMANDS = (
    "look",
    "examine crate",
    "jump",
    "west",
    "look",
    "examine spyglass",
    "sing a sea shanty",
    "east",
    "east",
    "talk to ferrin",
    "ask ferrin about rope",
    "wait",
    "west",
    "north",
    "look",
    "listen",
    "dance",
    "examine the sky",
    "south",
    "whistle",
)
GOAL_PCT = 10.0


def rss_mb() -> float:
    """Resident memory of this process in MB (VmRSS), or -1 where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return -1.0


def play(
    model: str, turns: int, threads: int, fixed: bool, every: int = 0, dtype: str = "auto"
) -> dict:
    """One soak in this process; returns the figures."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not fixed:
        os.environ["TEXTGAMEGEN_NATIVE_DEFAULTS"] = "1"
    from textgamegen.engine.game import Game
    from textgamegen.engine.world import load_world
    from textgamegen.engine.worlds import DEFAULT_WORLD, find_world
    from textgamegen.narration.generator import Generator
    from textgamegen.play.session import PlaySession

    generator: Generator
    if model == "template":
        from textgamegen.narration.template import TemplateGenerator

        generator = TemplateGenerator()
    else:
        from textgamegen.models.loader import load_generator

        generator = load_generator(model, device="cpu", threads=threads, dtype=dtype)
    game = Game.new(load_world(find_world(DEFAULT_WORLD)), seed=11)
    session = PlaySession(game, stream=False)
    session.use_generator(generator)
    points = [point for point in CHECKPOINTS if point <= turns]
    rows = []
    generated = 0
    started = time.perf_counter()
    for turn in range(1, turns + 1):
        session.step(COMMANDS[turn % len(COMMANDS)])
        generated += len(session.take_passages())
        if turn % 50 == 0:
            game.cache.clear()  # rooms are described afresh: the model keeps writing
        if turn in points or turn == turns or (every and turn % every == 0):
            rows.append(
                {
                    "turn": turn,
                    "rss_mb": round(rss_mb(), 1),
                    "python_blocks": sys.getallocatedblocks(),
                    "narrations": generated,
                    "seconds": round(time.perf_counter() - started, 1),
                }
            )
            print(json.dumps({"fixed": fixed, **rows[-1]}), file=sys.stderr, flush=True)
    by_turn = {row["turn"]: row["rss_mb"] for row in rows}
    base = by_turn.get(1000)
    growth = (by_turn[turns] - base) / base * 100 if base and turns > 1000 else None
    return {
        "model": model,
        "turns": turns,
        "fixed": fixed,
        "threads": threads,
        "dtype": generator.dtype or dtype,
        "rows": rows,
        "caps": {
            name: os.environ.get(name, "")
            for name in ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY")
        },
        "growth_1000_to_end_pct": None if growth is None else round(growth, 2),
    }


def _child(args: argparse.Namespace, fixed: bool) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "bench.soak",
        "--child",
        "--model",
        args.model,
        "--turns",
        str(args.turns),
        "--threads",
        str(args.threads),
        "--every",
        str(args.every),
        "--dtype",
        args.dtype,
    ]
    command += [] if fixed else ["--torch-defaults"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def table(results: list[dict]) -> str:
    lines = [
        "| model | dtype | native caches | turn | RSS MB | Python blocks | narrations | s |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        caches = "capped" if result["fixed"] else "torch defaults"
        for row in result["rows"]:
            lines.append(
                f"| {result['model']} | {result['dtype']} | {caches} | {row['turn']} | "
                f"{row['rss_mb']} | {row['python_blocks']} | {row['narrations']} | "
                f"{row['seconds']} |"
            )
    lines.append("")
    for result in results:
        growth = result["growth_1000_to_end_pct"]
        verdict = (
            "n/a (needs more than 1000 turns)"
            if growth is None
            else f"{growth:+.1f}% ({'met' if growth < GOAL_PCT else 'NOT met'})"
        )
        caches = "capped" if result["fixed"] else "torch defaults"
        lines.append(
            f"- {result['model']}, {caches}: RSS growth turn 1000 -> "
            f"{result['turns']}: {verdict} (goal < {GOAL_PCT:g}%)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--model", default="template", help="template or an installed model")
    parser.add_argument("--turns", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    parser.add_argument("--dtype", default="auto", help="auto, float32 or bfloat16")
    parser.add_argument("--every", type=int, default=0, help="also record RSS every N turns")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also run with torch's default native caches, side by side",
    )
    parser.add_argument(
        "--torch-defaults", action="store_true", help="run with torch's default native caches only"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=Path("bench/results/soak.json"))
    args = parser.parse_args(argv)
    if args.child:
        print(
            json.dumps(
                play(
                    args.model,
                    args.turns,
                    args.threads,
                    not args.torch_defaults,
                    args.every,
                    args.dtype,
                )
            )
        )
        return 0
    modes = [True, False] if args.compare else [not args.torch_defaults]
    print(
        f"[soak] {args.model}, {args.turns} turns, "
        + " and ".join("capped caches" if m else "torch defaults" for m in modes),
        file=sys.stderr,
        flush=True,
    )
    children = [_child(args, fixed) for fixed in modes]
    results = []
    for child in children:
        out, _ = child.communicate()
        if child.returncode:
            print(f"[soak] a child failed with exit code {child.returncode}", file=sys.stderr)
            return 1
        results.append(json.loads(out))
    print(table(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
