"""Narration latency: our generator against the seed's listing, side by side.

The seed's listing is ``model.generate(num_return_sequences=5)`` up to max length, waiting
for all five before anything is shown, in fp32. Ours streams the first candidate (KV cache,
optional int8) and reranks the rest after. Both get the same prompt, the same weights, the
same device (CPU) and the same threads, alternately in one loop.

"first word" is when the player sees the first word; "full narration" is when the shown
candidate is complete; "all candidates" is when every candidate is scored and the best is
final (the listing has the three at the same instant).

Example::

    python -m bench --only narration --runs 5
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench.measure import Figure, ratio
from bench.report import Section
from textgamegen.engine.content import ContentKind, ContentRequest

NEW_TOKENS = 40
CANDIDATES = 5
REQUESTS = (
    ContentRequest(ContentKind.ACTION, subject="door", room="Old Hall",
                   command="push open the door", entities=("door",)),
    ContentRequest(ContentKind.ITEM, subject="brass lantern", room="Old Hall",
                   command="examine lantern", entities=("brass lantern",)),
    ContentRequest(ContentKind.DIALOGUE, subject="keeper", room="Lamp Room",
                   command="talk to keeper", entities=("keeper",), speaker="the keeper"),
)  # fmt: skip


def _listing(model, tokenizer, prompt: str) -> float:
    """The seed's listing, timed: every sequence must finish before anything is shown."""
    import torch

    ids = tokenizer(prompt, return_tensors="pt").input_ids
    started = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(
            ids, do_sample=True, top_k=50, top_p=0.95, repetition_penalty=1.1,
            max_length=ids.shape[1] + NEW_TOKENS, num_return_sequences=CANDIDATES,
            pad_token_id=tokenizer.eos_token_id,
        )  # fmt: skip
        tokenizer.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)
    return (time.perf_counter() - started) * 1000.0


def compare(label: str, model_dir: Path, runs: int, threads: int, quantize: bool) -> Section:
    """Measure the listing and our generator on one model directory."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from textgamegen.config import SamplingSettings
    from textgamegen.generation.loader import load_generator

    torch.set_num_threads(threads)
    sampling = SamplingSettings(num_candidates=CANDIDATES, max_new_tokens=NEW_TOKENS)
    ours = load_generator(str(model_dir), "cpu", sampling, quantize=quantize, threads=threads)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    seed_model = AutoModelForCausalLM.from_pretrained(
        model_dir, local_files_only=True, use_safetensors=True, dtype=torch.float32
    ).eval()

    listing = Figure("seed listing: first word = full narration", "ms")
    first = Figure("ours: first word", "ms")
    full = Figure("ours: full narration (shown candidate complete)", "ms")
    every = Figure("ours: all candidates reranked", "ms")
    _listing(seed_model, tokenizer, "<|action|> You")  # warm both up alike
    for run in range(runs):
        for index, request in enumerate(REQUESTS):
            request = replace(request, seed=run * 10 + index)
            narration = ours.generate(request, on_text=lambda _piece: None)
            first.runs.append(narration.timings.first_token_ms)
            full.runs.append(narration.timings.first_candidate_ms)
            every.runs.append(narration.timings.total_ms)
            torch.manual_seed(run * 10 + index)
            listing.runs.append(_listing(seed_model, tokenizer, narration.prompt))

    section = Section(f"Narration latency: {label} (CPU, {threads} threads, "
                      f"{CANDIDATES} candidates, {NEW_TOKENS} new tokens, int8={quantize})")
    section.figures = [listing, first, full, every]
    section.ratios = {
        "first word: listing / ours": ratio(listing, first),
        "full narration: listing / ours": ratio(listing, full),
        "all candidates: listing / ours": ratio(listing, every),
    }
    return section


def run(runs: int, threads: int, shipped: str = "textgamegen") -> list[Section]:
    """(a) the shipped model, (b) a random gpt2-medium shape; goals from the performance issue."""
    from textgamegen.generation.random_model import build_random_model
    from textgamegen.generation.registry import find_model

    sections = []
    info = find_model(shipped)
    if info is None:
        missing = Section(f"Narration latency: shipped model {shipped!r}")
        missing.notes.append(f"model {shipped!r} is not installed; skipped")
        sections.append(missing)
    else:
        for quantize in (False, True):
            section = compare(f"shipped '{shipped}'", info.path, runs, threads, quantize)
            first, full = section.figures[1], section.figures[2]
            first.goal, first.met = "<= 50 ms", first.median <= 50
            full.goal, full.met = "<= 300 ms", full.median <= 300
            sections.append(section)
    with tempfile.TemporaryDirectory() as tmp:
        medium = build_random_model(Path(tmp) / "gpt2-medium-shape", "medium",
                                    vocab_size=50257, n_positions=1024)  # fmt: skip
        section = compare("random gpt2-medium shape", medium, max(1, runs // 2), threads, True)
        section.goals = {
            "first word: listing / ours": section.ratios["first word: listing / ours"] >= 20,
            "full narration: listing / ours": section.ratios["full narration: listing / ours"] >= 5,
        }
        section.notes.append("goals: first word >= 20x, full narration >= 5x faster")
        sections.append(section)
    return sections
