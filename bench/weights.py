"""Weight-only int8 and 4 bits against float32 and bfloat16: bits per byte on the test
split, and decoding speed, side by side on one model.

The four are the same weights read four ways (``narration.int8_weights`` rounds each
Linear's float32 weights to int8 with one scale per output channel;
``narration.int4_weights`` decodes from the base's own 4-bit grid with the adapter's
change beside it, every product on 4 bits while scoring), scored by the
training evaluator's ``score_test`` on the model's own test split (rebuilt from its
recorded config, as ``bench/quality.py`` does), so the only difference is the weights'
form. Speed is one decoding step after a prompt of the game's length, the three
alternating in one loop, as medians; the machine (CPU model, flags, torch's kernel level,
load) is printed with the figures, since a bench figure means little without them.

Example::

    python -m bench --only weights --runs 20 --threads 2
    python -m bench.weights --model narrator --runs 20 --max-lines 0
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

from bench.measure import Figure
from bench.report import Section, machine_line

MAX_COST = 0.01
"""The chosen default may cost at most 1% in bits per byte against float32."""
PROMPT_TOKENS = 160  # about a game prompt's length
STEPS = 8  # decoding steps per run (after the prompt)


def _step_ms(model, ids, steps: int, lean=None) -> list[float]:
    """Milliseconds of each of ``steps`` single-token steps after the prompt ``ids``
    (through ``model(...)``, or through ``lean``, the game's ``LlamaStep``, when given)."""
    import torch

    times = []
    with torch.inference_mode():
        out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
        cache = out.past_key_values
        token = ids[:, -1:]
        for _ in range(steps):
            started = time.perf_counter()
            if lean is not None:
                lean(token, cache)
            else:
                out = model(input_ids=token, past_key_values=cache, use_cache=True)
                cache = out.past_key_values
            times.append((time.perf_counter() - started) * 1000)
    return times


def _prompt_ms(model, ids) -> float:
    import torch

    with torch.inference_mode():
        started = time.perf_counter()
        model(input_ids=ids, use_cache=True, logits_to_keep=1)
        return (time.perf_counter() - started) * 1000


def compare(
    model_dir: Path,
    runs: int,
    threads: int,
    label: str,
    max_lines: int = 0,
    test_file: Path | None = None,
) -> Section:
    """Bits per byte and decoding speed of float32, bfloat16 and int8 weights."""
    import torch

    from bench.quality import test_lines
    from textgamegen.models.loader import load_weights
    from textgamegen.narration import int4_weights
    from textgamegen.narration.int8_weights import quantize_weights
    from textgamegen.narration.llama_step import LlamaStep
    from training.evaluate import score_test

    torch.set_num_threads(threads)
    section = Section(
        f"Weights: float32, bfloat16, int8 per channel, 4 bits: {label} ({threads} threads)"
    )
    parts: list = []
    torch.manual_seed(0)
    tokenizer, fp32 = load_weights(str(model_dir.resolve()), "float32", four_bit=parts)
    fp32.eval()
    models = {"float32": fp32, "bfloat16": copy.deepcopy(fp32).to(torch.bfloat16)}
    int8 = copy.deepcopy(fp32)
    quantize_weights(int8)
    models["int8"] = int8.eval()
    if parts and parts[0].bases and int4_weights.kernel_available():
        four = copy.deepcopy(int8)
        int4_weights.attach(four, parts[0])
        models["int4"] = four.eval()
    else:
        section.notes.append("int4: " + (parts[0].why_not if parts else "no 4-bit kernel here"))
    # The game's decoding step (``llama_step``) on the same weights: speed only, since it
    # computes what model(...) does (its attention in float32).
    timed = {name: (model, None) for name, model in models.items()}
    for name in ("int8", "int4"):
        if name in models and (lean := LlamaStep.of(models[name])) is not None:
            timed[f"{name}, the game's step"] = (models[name], lean)

    ids = torch.randint(100, 40000, (1, PROMPT_TOKENS), generator=torch.Generator().manual_seed(1))
    steps = {name: Figure(f"{name}: one decoding step", "ms") for name in timed}
    prompts = {name: Figure(f"{name}: a {PROMPT_TOKENS}-token prompt", "ms") for name in models}
    for model, lean in timed.values():
        _step_ms(model, ids, 2, lean)  # warm every path up alike
    for _ in range(runs):
        for name, (model, lean) in timed.items():
            if name in prompts:
                prompts[name].runs.append(_prompt_ms(model, ids))
            steps[name].runs += _step_ms(model, ids, STEPS, lean)
    rate = {
        name: Figure(f"{name}: decode speed (1000 / median step)", "tok/s", [1000 / f.median])
        for name, f in steps.items()
    }
    section.figures += [*steps.values(), *rate.values(), *prompts.values()]
    section.ratios = {
        f"decode speed: {name} / float32": steps["float32"].median / steps[name].median
        for name in timed
        if name != "float32"
    }

    if max_lines >= 0 and test_file is not None:
        # The split the model was trained against, as its run left it (runs/<run>/corpus).
        lines = [line for line in test_file.read_text("utf-8").splitlines() if line.strip()]
        lines = lines[:max_lines] if max_lines else lines
        origin = f"{test_file} ({len(lines)} lines)"
    elif max_lines >= 0:
        with tempfile.TemporaryDirectory() as tmp:
            lines, origin = test_lines(model_dir, Path(tmp), max_lines)
    if max_lines >= 0:
        if "int4" in models:
            # Scored with every product on 4 bits (as decoding runs), not the prompt's int8.
            int4_weights.set_four_bit_rows(models["int4"], 1 << 30)
        scores = {
            name: score_test(model, tokenizer, lines, "cpu") for name, model in models.items()
        }
        reference = scores["float32"]["bits_per_byte"]
        for name, score in scores.items():
            cost = score["bits_per_byte"] / reference - 1.0
            figure = Figure(f"{name}: test bits per byte", "bpb", [score["bits_per_byte"]])
            if name != "float32":
                figure.goal, figure.met = "<= float32 + 1%", cost <= MAX_COST
                section.notes.append(f"{name}: bits per byte {cost * 100:+.3f}% against float32")
            section.figures.append(figure)
            section.figures.append(Figure(f"{name}: test perplexity", "ppl", [score["perplexity"]]))
        section.notes.append(
            f"scored on {reference and scores['float32']['test_tokens']} tokens of {origin}"
        )
    section.notes.append(machine_line())
    return section


def run(
    runs: int,
    threads: int,
    model: str = "narrator",
    max_lines: int = 0,
    test_file: Path | None = None,
) -> Section:
    """The weights section for an installed model (the shipped narrator by default)."""
    from textgamegen.models.registry import find_model

    info = find_model(model)
    if info is None:
        section = Section(f"Weights: model {model!r}")
        section.notes.append(f"model {model!r} is not installed; skipped")
        return section
    return compare(info.path, runs, threads, f"'{info.name}'", max_lines, test_file)


def main(argv: list[str] | None = None) -> int:
    from bench.report import render

    parser = argparse.ArgumentParser(prog="python -m bench.weights", description=__doc__)
    parser.add_argument("--model", default="narrator")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--max-lines", type=int, default=0, help="test lines to score (0: all; -1: no scoring)"
    )
    parser.add_argument(
        "--test-file",
        type=Path,
        help="score this split (a run's corpus/test.txt) instead of rebuilding it",
    )
    args = parser.parse_args(argv)
    print(render([run(args.runs, args.threads, args.model, args.max_lines, args.test_file)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
