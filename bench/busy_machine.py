"""The narrator on a busy machine: automatic threads against a fixed count, beside 0, 1
and 2 other busy processes.

A player's machine is rarely idle (a newcomer measured 3.6-6.6 tok/s at load 4-8 on 2
cores). Torch's threads wait for one another after every product, so a product on more
threads than the machine has free cores waits a scheduler tick. This plays the shipped
walkthrough's first requests as the TUI writes them (streamed, ``quantize`` and ``dtype``
auto) with the narrator's threads:

- ``automatic``: chosen again before each line (``device.ThreadChoice``, ``threads = 0``);
- ``cores less one``: what ``threads = 0`` gave before (``device.cpu_threads``);
- ``every core``: all the cores this process may use, fixed.

The three take turns request by request, so a change in the load weighs on all alike.
The busy processes are plain Python loops (one core each), like a test run beside the
game. Figures are medians per line: the first word, and the line's tokens over its time.

Example::

    python -m bench.busy_machine --runs 2 --busy 0,1,2
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from dataclasses import replace

VARIANTS = ("automatic", "cores less one", "every core")


def _busy(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2, help="passes over the requests")
    parser.add_argument("--requests", type=int, default=15)
    parser.add_argument("--busy", default="0,1,2", help="busy processes beside the game")
    parser.add_argument("--model", default="narrator")
    args = parser.parse_args(argv)
    try:
        levels = [int(level) for level in args.busy.split(",") if level.strip()]
    except ValueError:
        parser.error(f"--busy takes whole numbers separated by commas, not {args.busy!r}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from bench.narration import game_requests
    from bench.report import machine_line
    from textgamegen.config import SamplingSettings
    from textgamegen.models.loader import load_generator
    from textgamegen.narration.device import (
        MAX_THREADS,
        ThreadChoice,
        cpu_threads,
        set_cpu_threads,
    )

    # As the game loads it: quantize and dtype auto, threads automatic.
    generator = load_generator(
        args.model, "cpu", SamplingSettings(colour=True), threads=0, quantize="auto"
    )
    generator.sampling = replace(generator.sampling, stream=True)
    automatic = ThreadChoice()
    every = min(MAX_THREADS, len(os.sched_getaffinity(0)))
    requests = game_requests(args.requests)
    print(machine_line())
    print(f"narrator {args.model}: {generator.dtype} weights; cores less one = {cpu_threads()}")
    print()
    print("| busy processes | threads | first word (ms) | tok/s over the line | threads used |")
    print("|---|---|---|---|---|")
    for level in levels:
        hogs = _busy(level)
        try:
            time.sleep(1.0)  # let them reach their cores
            firsts: dict[str, list[float]] = {name: [] for name in VARIANTS}
            speeds: dict[str, list[float]] = {name: [] for name in VARIANTS}
            used: dict[str, list[int]] = {name: [] for name in VARIANTS}
            loads = [os.getloadavg()[0]]
            for _ in range(args.runs):
                for request in requests:
                    for name in VARIANTS:
                        if name == "automatic":
                            generator.thread_choice = automatic
                        else:
                            generator.thread_choice = None
                            count = cpu_threads() if name == "cores less one" else every
                            generator.threads = set_cpu_threads(count)
                        # Each pays for its whole prompt: the one before was the same.
                        generator._prefix = None
                        started = time.perf_counter()
                        narration = generator.generate(request, on_text=lambda _piece: None)
                        took = time.perf_counter() - started
                        tokens = sum(candidate.tokens for candidate in narration.candidates)
                        if narration.timings.first_token_ms:
                            firsts[name].append(narration.timings.first_token_ms)
                        if tokens and took > 0:
                            speeds[name].append(tokens / took)
                        used[name].append(generator.threads)
                loads.append(os.getloadavg()[0])
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()
        for name in VARIANTS:
            counts = sorted(set(used[name]))
            print(
                f"| {level} (load {min(loads):.1f}-{max(loads):.1f}) | {name} | "
                f"{statistics.median(firsts[name]):.0f} | "
                f"{statistics.median(speeds[name]):.1f} | "
                f"{', '.join(map(str, counts))} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
