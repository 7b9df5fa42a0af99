"""What the narrator's guards on what it may write cost: the same attempts written with
``sampling.known_words`` on and off, alternately, on one loaded narrator.

The guard reads each row's likeliest tokens against the lexicon at every step (see
``textgamegen.narration.spelling``), in Python; this says what that costs the player in
time to the first word and in tokens per second, as medians, with the CPU and the load.

Example::

    python -m bench.spelling --runs 3 --threads 2
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
from dataclasses import replace

from textgamegen.engine.content import ContentKind, ContentRequest

ATTEMPTS = (
    ("Compartment Three", ("Mrs Hartwell", "jewel case"), "lift the jewel case"),
    ("The Dining Car", ("Teodoro Bassi", "bill spike", "linen hamper"), "polish a spoon"),
    ("The Gangway", ("footplates",), "tap the lamp"),
    ("The Boiler House", ("firebox", "coal barrow", "lumps of coal"), "crawl under the boilers"),
    ("Ebenezer Chapel", ("candle box",), "kneel in the aisle"),
    ("The Engine House", ("Amos Kitto", "engine book"), "pat the cylinder"),
)


def cpu_name() -> str:
    """The CPU's model name, as /proc/cpuinfo gives it (the platform's word elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.spelling", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="rounds over the attempts")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    parser.add_argument("--model", default="narrator", help="the narrator to measure")
    args = parser.parse_args(argv)

    from textgamegen.config import SamplingSettings
    from textgamegen.models.loader import load_generator

    narrator = load_generator(
        args.model, device="cpu", sampling=SamplingSettings(), threads=args.threads
    )
    if not getattr(narrator, "lexicon", None):
        parser.error(f"{args.model} has no lexicon.json: nothing to compare")
    usual = narrator.sampling
    times: dict[bool, dict[str, list[float]]] = {
        on: {"first": [], "rate": []} for on in (True, False)
    }
    for run in range(args.runs):
        for index, (room, things, command) in enumerate(ATTEMPTS):
            request = ContentRequest(
                ContentKind.ACTION,
                room=room,
                command=command,
                entities=things,
                attempt=True,
                seed=run * 100 + index,
            )
            # Alternate which goes first, so neither always finds the caches warm.
            for on in (True, False) if (run + index) % 2 else (False, True):
                narrator.sampling = replace(usual, known_words=on)
                narration = narrator.generate(request, on_text=lambda _text: None)
                times[on]["first"].append(narration.timings.first_token_ms)
                times[on]["rate"].append(narration.timings.tokens_per_s or 0.0)
    narrator.sampling = usual
    load = os.getloadavg()
    print(f"CPU: {cpu_name()}; {args.threads} threads; load {load[0]:.1f} {load[1]:.1f}")
    print(f"{args.runs} x {len(ATTEMPTS)} attempts each way, streamed, medians:")
    for on in (True, False):
        label = "known_words on " if on else "known_words off"
        first = statistics.median(times[on]["first"])
        rate = statistics.median(times[on]["rate"])
        print(f"  {label}: first word {first:.0f} ms, {rate:.1f} tok/s")
    first_ratio = statistics.median(times[True]["first"]) / statistics.median(times[False]["first"])
    rate_ratio = statistics.median(times[True]["rate"]) / statistics.median(times[False]["rate"])
    print(f"  on / off: first word x{first_ratio:.2f}, tokens per second x{rate_ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
