"""Where a prompt's products should stop running the int8 kernel and widen the weights.

A prompt's new tokens go through every projection as one product of that many rows.
``Int8Linear`` can run torch's ``_weight_int8pack_mm`` kernel on them (it dequantises as
it multiplies), or widen the int8 weights to bfloat16 or float32 and run a plain matmul,
which writes every weight out at two or four times its size first. This times both for
the projections of a SmolLM2-135M-sized stack (30 layers of q, k, v, o, gate, up, down;
random int8 weights, so no model is needed) at several row counts, in turn, as medians,
on the CPU's own kernels and, when run again with ``ATEN_CPU_CAPABILITY=avx2
ONEDNN_MAX_CPU_ISA=AVX2``, held to AVX2. ``int8_weights.prompt_kernel_rows`` is set
from its crossing points.

Example::

    python -m bench.prompt_rows --rows 16,32,80,160,320 --runs 5 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import time

LAYERS = 30
WIDTH, KV_WIDTH, MLP_WIDTH = 576, 192, 1536
SHAPES = (
    (WIDTH, WIDTH),
    (KV_WIDTH, WIDTH),
    (KV_WIDTH, WIDTH),
    (WIDTH, WIDTH),
    (MLP_WIDTH, WIDTH),
    (MLP_WIDTH, WIDTH),
    (WIDTH, MLP_WIDTH),
)
WAYS = ("int8 kernel", "widened to bfloat16", "widened to float32")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="16,32,48,64,80,160,320")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    try:
        counts = [int(count) for count in args.rows.split(",") if count.strip()]
    except ValueError:
        parser.error(f"--rows takes whole numbers separated by commas, not {args.rows!r}")
    if not counts or min(counts) < 1 or args.runs < 1:
        parser.error("--rows and --runs must be at least 1")

    import torch
    from torch.nn import functional

    from bench.report import machine_line

    torch.set_num_threads(max(1, args.threads))
    torch.manual_seed(0)
    weights = [
        [
            (
                torch.randint(-127, 128, shape, dtype=torch.int8),
                torch.rand(shape[0], dtype=torch.bfloat16) / 100,
            )
            for shape in SHAPES
        ]
        for _ in range(LAYERS)
    ]

    def one_pass(rows: int, way: str) -> float:
        inputs = {
            size: torch.randn(rows, size, dtype=torch.bfloat16) for size in (WIDTH, MLP_WIDTH)
        }
        wide = {size: x.float() for size, x in inputs.items()}
        started = time.perf_counter()
        for layer in weights:
            for weight, scales in layer:
                size = weight.shape[1]
                if way == WAYS[0]:
                    torch.ops.aten._weight_int8pack_mm(inputs[size], weight, scales)
                elif way == WAYS[1]:
                    widened = weight.to(torch.bfloat16) * scales[:, None]
                    functional.linear(inputs[size], widened)
                else:
                    widened = weight.float() * scales.float()[:, None]
                    functional.linear(wide[size], widened)
        return (time.perf_counter() - started) * 1000.0

    print(machine_line())
    print(f"{args.threads} threads; ms per pass over {LAYERS} layers, median of {args.runs}")
    print(f"| rows | {' | '.join(WAYS)} |")
    print(f"|---|{'---|' * len(WAYS)}")
    for rows in counts:
        for way in WAYS:
            one_pass(rows, way)  # the first pass pays for its allocations
        times: dict[str, list[float]] = {way: [] for way in WAYS}
        for _ in range(args.runs):
            for way in WAYS:
                times[way].append(one_pass(rows, way))
        cells = " | ".join(f"{statistics.median(times[way]):.1f}" for way in WAYS)
        print(f"| {rows} | {cells} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
