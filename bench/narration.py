"""Narration latency: our generator against the seed's listing, side by side.

The seed's listing is ``model.generate(num_return_sequences=5)`` up to max length, waiting
for all five before anything is shown, in fp32. Ours streams the first candidate (KV cache,
optional int8) and reranks the rest after. Both get the same prompt, the same weights, the
same device (CPU) and the same threads, alternately in one loop.

"first word" is when the player sees the first word; "full narration" is when the shown
candidate is complete; "all candidates" is when every candidate is scored and the best is
final (the listing has the three at the same instant). With ``sampling.stream`` off the
player sees nothing until the best of the candidates is chosen, then the whole line: that
wait is measured on the same requests, alternately with the streamed line.

Example::

    python -m bench --only narration --runs 5
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.measure import Figure, ratio
from bench.report import Section, machine_line
from textgamegen.engine.content import ContentKind, ContentRequest

NEW_TOKENS = 40
CANDIDATES = 5
REQUESTS = (
    ContentRequest(
        ContentKind.ACTION,
        subject="door",
        room="Old Hall",
        command="push open the door",
        entities=("door",),
    ),
    ContentRequest(
        ContentKind.ITEM,
        subject="brass lantern",
        room="Old Hall",
        command="examine lantern",
        entities=("brass lantern",),
    ),
    ContentRequest(
        ContentKind.DIALOGUE,
        subject="keeper",
        room="Lamp Room",
        command="talk to keeper",
        entities=("keeper",),
        speaker="the keeper",
    ),
)


def _listing(model, tokenizer, prompt: str) -> float:
    """The seed's listing, timed: every sequence must finish before anything is shown."""
    import torch

    ids = tokenizer(prompt, return_tensors="pt").input_ids
    started = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(
            ids,
            do_sample=True,
            top_k=50,
            top_p=0.95,
            repetition_penalty=1.1,
            max_length=ids.shape[1] + NEW_TOKENS,
            num_return_sequences=CANDIDATES,
            pad_token_id=tokenizer.eos_token_id,
        )
        tokenizer.batch_decode(out[:, ids.shape[1] :], skip_special_tokens=True)
    return (time.perf_counter() - started) * 1000.0


def _until_shown(generator, request: ContentRequest) -> float:
    """Milliseconds from the call until the listener is first given text."""
    shown_at: list[float] = []
    started = time.perf_counter()
    generator.generate(request, on_text=lambda _text: shown_at.append(time.perf_counter()))
    return round((shown_at[0] - started) * 1000, 2)


def game_requests(limit: int = 15) -> list[ContentRequest]:
    """The prose requests of the first turns of the shipped walkthrough, as the game makes
    them (real prompts: story, facts, authored text); fallbacks stand in for the prose."""
    from textgamegen.engine.game import Game
    from textgamegen.engine.world import load_world
    from textgamegen.engine.worlds import DEFAULT_WORLD, find_world

    game = Game.new(load_world(find_world(DEFAULT_WORLD)), seed=1)
    walkthrough = (
        Path(__file__).resolve().parent.parent / "tests" / "functional" / "walkthrough.txt"
    )
    commands = [
        line.strip()
        for line in walkthrough.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith(("#", "?"))
    ]
    requests: list[ContentRequest] = list(game.intro().requests)
    for command in commands:
        if len(requests) >= limit:
            break
        for request in game.step(command).requests:
            requests.append(request)
            game.fulfil(request, request.fallback or "The moment passes.")
    return requests[:limit]


VARIANTS = (("float32", "off"), ("bfloat16", "off"), ("auto", "int8"), ("auto", "int4"))
"""(dtype, quantize) of each narrator measured: the floats, weight-only int8, and 4 bits
decoding from the base's own grid."""


@dataclass
class _Variant:
    """One narrator under test and its figures."""

    label: str
    generator: Any
    first: Figure
    full: Figure
    speed: Figure
    decoding: Figure
    reused: Figure
    ranked: Figure


def _variant(model_dir: Path, dtype: str, quantize: str, threads: int, sampling) -> _Variant:
    from textgamegen.models.loader import load_generator

    generator = load_generator(
        str(model_dir), "cpu", sampling, quantize=quantize, threads=threads, dtype=dtype
    )
    label = f"{generator.dtype}" + (" weights" if generator.quantized else "")
    return _Variant(
        label,
        generator,
        Figure(f"{label}: first word (streamed)", "ms"),
        Figure(f"{label}: full narration (the streamed line, complete)", "ms"),
        Figure(f"{label}: streaming speed", "tok/s"),
        Figure(f"{label}: decoding speed (after the first word)", "tok/s"),
        Figure(f"{label}: prompt tokens reused from the previous request", "tokens"),
        Figure(f"{label}, stream off: the best of {CANDIDATES} shown whole", "ms"),
    )


def compare(
    label: str,
    model_dir: Path,
    runs: int,
    threads: int,
    variants: tuple[tuple[str, str], ...] = VARIANTS,
    requests: list[ContentRequest] | None = None,
) -> Section:
    """Measure the listing and our generator in each (dtype, quantize) on one model
    directory, every request in turn by each narrator, alternating in one loop."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from textgamegen.config import SamplingSettings

    torch.set_num_threads(threads)
    requests = requests or list(REQUESTS)
    # colour on: every request is written, as it was when the seed's listing was timed.
    sampling = SamplingSettings(num_candidates=CANDIDATES, max_new_tokens=NEW_TOKENS, colour=True)
    ours = [_variant(model_dir, dtype, quantize, threads, sampling) for dtype, quantize in variants]
    if (model_dir / "adapter_config.json").is_file():
        from textgamegen.models.adapters import base_directory, merged_model

        # Merged in memory, as the game does: the cache keeps no merged copy.
        tokenizer, seed_model = merged_model(model_dir, base_directory(model_dir))
    else:
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        seed_model = AutoModelForCausalLM.from_pretrained(
            model_dir, local_files_only=True, use_safetensors=True, dtype=torch.float32
        )
    seed_model.eval()

    listing = Figure("seed listing: first word = full narration", "ms")
    streamed_sampling = sampling
    ranked_sampling = replace(streamed_sampling, stream=False)
    _listing(seed_model, tokenizer, "<|action|> You")  # warm both up alike
    for run in range(runs):
        for index, request in enumerate(requests):
            request = replace(request, seed=run * 100 + index)
            prompt = ""
            for variant in ours:
                variant.generator.sampling = streamed_sampling
                narration = variant.generator.generate(request, on_text=lambda _piece: None)
                variant.first.runs.append(narration.timings.first_token_ms)
                variant.full.runs.append(narration.timings.first_candidate_ms)
                variant.speed.runs.append(narration.timings.tokens_per_s)
                timings = narration.timings
                # A line the template wrote (the model failed) has no candidate: no figure.
                streamed = narration.candidates[0].tokens if narration.candidates else 0
                decoding_ms = timings.first_candidate_ms - timings.first_token_ms
                if streamed > 1 and decoding_ms > 0:
                    variant.decoding.runs.append((streamed - 1) / decoding_ms * 1000)
                variant.reused.runs.append(narration.timings.reused_tokens)
                prompt = narration.prompt
                # The same request ranked, as the player waits for it with stream off.
                variant.generator.sampling = ranked_sampling
                variant.ranked.runs.append(_until_shown(variant.generator, request))
                variant.generator.sampling = streamed_sampling
            if index % 3 == 0:  # the listing is slow: every third request, side by side
                torch.manual_seed(run * 100 + index)
                listing.runs.append(_listing(seed_model, tokenizer, prompt))

    section = Section(
        f"Narration latency: {label} (CPU, {threads} threads, "
        f"{', '.join(variant.label for variant in ours)}; {len(requests)} game requests x "
        f"{runs}, alternating; listing: {CANDIDATES} sequences of {NEW_TOKENS} tokens, fp32)"
    )
    section.figures = [listing]
    for variant in ours:
        section.figures += [
            variant.first,
            variant.full,
            variant.speed,
            variant.decoding,
            variant.reused,
            variant.ranked,
        ]
        section.ratios |= {
            f"{variant.label}: first word, listing / ours": ratio(listing, variant.first),
            f"{variant.label}: full narration, listing / ours": ratio(listing, variant.full),
            f"{variant.label}: whole line shown, stream off / streamed": ratio(
                variant.ranked, variant.full
            ),
        }
    section.notes.append(machine_line())
    return section


def run(runs: int, threads: int, shipped: str = "narrator") -> list[Section]:
    """The shipped narrator in float32, bfloat16 and int8 weights on the game's real
    prompts, against the seed's listing on the same weights; goals from the narrator
    issues (24: >= 60 tok/s, first word <= 150 ms, >= 5x the listing's full narration)."""
    from textgamegen.models.registry import find_model

    info = find_model(shipped)
    if info is None:
        missing = Section(f"Narration latency: shipped model {shipped!r}")
        missing.notes.append(f"model {shipped!r} is not installed; skipped")
        return [missing]
    section = compare(f"shipped '{shipped}'", info.path, runs, threads, VARIANTS, game_requests())
    for figure in section.figures:
        if figure.name.endswith("first word (streamed)"):
            figure.goal, figure.met = "<= 150 ms", figure.median <= 150
        elif figure.name.endswith(("streaming speed", "(after the first word)")):
            figure.goal, figure.met = ">= 60 tok/s", figure.median >= 60
    for name, value in section.ratios.items():
        if name.endswith("full narration, listing / ours"):
            section.goals[name] = value >= 5
    section.notes.append(
        "goals (issue 24): first word <= 150 ms, >= 60 tok/s streaming on 2 threads, full "
        "narration >= 5x faster than the listing"
    )
    return [section]
