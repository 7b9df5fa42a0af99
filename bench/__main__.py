"""Run the benchmarks: ``python -m bench [--only NAME ...] [--runs N] [--threads T]``.

Prints a Markdown table (what the README's Performance section carries) and writes
``bench/results/latest.json`` plus the scaling plot. Run it on an otherwise idle machine.

Sections: narration (ours vs the seed's listing, shipped model and a gpt2-medium shape),
ui (key press to screen while generating), startup (cold start vs importing
transformers), training (our fine-tune vs plain HF Trainer fp32), int8 (perplexity cost
and speed-up of int8 on the shipped model), scaling (latency vs context and candidates, PNG),
serving (serve-model's overhead per request, and throughput and RSS of 1/4/16 games on one
model server against 16 processes with a model each; also ``python -m bench.serving``),
feedback (a turn with feedback recording against the same turn without), weights
(float32, bfloat16 and weight-only int8: bits per byte on the test split and decode speed).
Every table opens with the machine: CPU model and flags, torch's kernel level, the load.

The blind read of the narrator needs a human reader, so it is a kit of its own, not a
section: ``python -m bench.blind make`` writes the sheet, ``python -m bench.blind score``
scores it (``bench/blind.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

SECTIONS = (
    "narration",
    "weights",
    "ui",
    "startup",
    "training",
    "int8",
    "scaling",
    "serving",
    "feedback",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--runs", type=int, default=5, help="repeats per measure (median)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    parser.add_argument("--model", default="narrator", help="the shipped model to measure")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="results folder")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from bench.report import render, write_json

    sections = []
    for name in args.only:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        if name == "narration":
            from bench import narration

            sections += narration.run(args.runs, args.threads, args.model)
        elif name == "weights":
            from bench import weights

            sections.append(weights.run(args.runs, args.threads, args.model))
        elif name == "ui":
            from bench import ui_latency

            sections.append(ui_latency.run(max(50, args.runs * 40), args.model))
        elif name == "startup":
            from bench import startup

            sections.append(startup.run(args.runs, args.model))
        elif name == "training":
            from bench import training

            sections.append(training.run(args.runs, args.threads))
        elif name == "int8":
            from bench import quality

            sections.append(quality.run(args.runs, args.threads, args.model))
        elif name == "feedback":
            from bench import feedback

            sections.append(feedback.run(max(args.runs, 3)))
        elif name == "scaling":
            from bench import scaling
            from textgamegen.models.registry import find_model

            info = find_model(args.model)
            if info is None:
                print(f"[bench] scaling: model {args.model!r} not installed", file=sys.stderr)
                continue
            sections.append(
                scaling.run(info.path, args.runs, args.threads, args.out / "scaling.png")
            )
        elif name == "serving":
            from bench import serving

            sections.append(serving.run(args.runs, 1, args.model))
    print(render(sections))
    path = write_json(sections, args.out / "latest.json")
    print(f"[bench] wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
