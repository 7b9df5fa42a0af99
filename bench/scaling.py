"""Scaling curves: narration latency against context length and against candidates.

Context grows by feeding a longer recent story, up to the token budget (prompt plus
max_new_tokens = n_positions); the prompt builder trims what does not fit, so the last
points sit at the budget. Writes a PNG of both curves beside the JSON results.

Example::

    python -m bench --only scaling --runs 3
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bench.measure import Figure
from bench.report import Section
from textgamegen.engine.content import ContentKind, ContentRequest

STORY_LINE = "You walk along the wet stones of the quay while the gulls cry overhead."
REQUEST = ContentRequest(
    ContentKind.ACTION,
    subject="door",
    room="Old Hall",
    command="push open the door",
    entities=("door",),
)


def run(model_dir: Path, runs: int, threads: int, plot: Path) -> Section:
    from textgamegen.config import SamplingSettings
    from textgamegen.models.loader import load_generator

    section = Section(f"Scaling: {model_dir.name} (CPU, {threads} threads)")
    # The game keeps only the last few story lines; lift that cap so the context grows
    # until the token budget (n_positions - max_new_tokens) trims it.
    uncapped = plot.parent / "prompts-uncapped.toml"
    uncapped.parent.mkdir(parents=True, exist_ok=True)
    uncapped.write_text("[prompt]\nmax_story_lines = 100000\n", encoding="utf-8")
    base = load_generator(
        str(model_dir), "cpu", SamplingSettings(), threads=threads, prompts=uncapped
    )
    context_points: list[tuple[int, float, float]] = []
    for lines in (0, 4, 16, 64, 256, 1024):
        request = replace(REQUEST, story=(STORY_LINE,) * lines)
        first, total = Figure(f"story {lines} lines: first word", "ms"), Figure("", "ms")
        tokens = 0
        for seed in range(runs):
            narration = base.generate(replace(request, seed=seed))
            first.runs.append(narration.timings.first_token_ms)
            total.runs.append(narration.timings.total_ms)
            tokens = narration.timings.prompt_tokens
        first.name = f"context {tokens} tokens: first word"
        total.name = f"context {tokens} tokens: all 5 candidates"
        section.figures += [first, total]
        context_points.append((tokens, first.median, total.median))

    candidate_points: list[tuple[int, float, float]] = []
    for count in (1, 2, 3, 5, 8):
        generator = load_generator(
            str(model_dir),
            "cpu",
            SamplingSettings(num_candidates=count),
            threads=threads,
            warm_up=False,
        )
        first, total = (
            Figure(f"{count} candidates: first word", "ms"),
            Figure(f"{count} candidates: all reranked", "ms"),
        )
        for seed in range(runs):
            narration = generator.generate(replace(REQUEST, seed=seed))
            first.runs.append(narration.timings.first_token_ms)
            total.runs.append(narration.timings.total_ms)
        section.figures += [first, total]
        candidate_points.append((count, first.median, total.median))

    _plot(context_points, candidate_points, plot, model_dir.name)
    section.notes.append(f"plot: {plot}")
    return section


def _plot(context, candidates, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for axis, points, label in (
        (left, context, "prompt tokens"),
        (right, candidates, "candidates"),
    ):
        xs = [p[0] for p in points]
        axis.plot(xs, [p[1] for p in points], marker="o", label="first word")
        axis.plot(xs, [p[2] for p in points], marker="s", label="all candidates")
        axis.set_xlabel(label)
        axis.set_ylabel("ms (median)")
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(f"Narration latency scaling: {title}")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
