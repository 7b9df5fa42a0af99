"""Weight-only int8 for the CPU: each Linear's weights in int8, one scale per output
channel, activations left in bfloat16.

Decoding one token reads every weight once and does little arithmetic with it, so on a
CPU it waits on memory: int8 weights are half the bytes of bfloat16 and a quarter of
float32. Only the weights are rounded; the activations stay in floating point, which is
why this keeps the model's quality where dynamic int8 (``device.quantize_int8``, which
also rounds each layer's input to int8) cannot hold SmolLM2's activation outliers.

A step of a few rows (decoding, the reranked candidates) runs torch's own
``_weight_int8pack_mm`` kernel, which dequantises as it multiplies; its fast path wants
bfloat16 activations. A prompt's new tokens (tens of rows) run the same kernel too: widening
every weight for one product costs more than the product itself. Only a long prompt,
compute-bound, widens its weights: to bfloat16 where the CPU multiplies it natively, else
to float32 (``prompt_kernel_rows``).

Imports torch; only the backend's loader imports it, inside the generation worker.
"""

from __future__ import annotations

import math
import time
from functools import cache

import torch
from torch import nn
from torch.nn import functional

ACTIVATIONS = torch.bfloat16
"""The activations' dtype beside int8 weights: the kernel's fast path."""
KERNEL_ROWS = 16
"""Up to this many rows a step is decoding (candidates side by side), which the game's own
step (``llama_step``) and the 4-bit kernel take."""


def kernel_available() -> bool:
    """Whether this torch build has the weight-only int8 kernel for the CPU."""
    try:
        probe = torch.ops.aten._weight_int8pack_mm(
            torch.ones(1, 32, dtype=ACTIVATIONS),
            torch.ones(8, 32, dtype=torch.int8),
            torch.ones(8, dtype=ACTIVATIONS),
        )
    except (AttributeError, RuntimeError, NotImplementedError):
        return False
    return tuple(probe.shape) == (1, 8)


@cache
def fast_bf16_matmul() -> bool:
    """Whether bfloat16 matmuls run natively here: the CPU has AVX-512 BF16 or AMX and
    torch's kernels are not held below AVX-512 (``ATEN_CPU_CAPABILITY``)."""
    from textgamegen.narration.device import native_bf16_kernels

    return native_bf16_kernels()


def prompt_kernel_rows() -> int:
    """Up to how many rows a product runs the int8 kernel rather than widened weights.

    Measured on this project's AMD EPYC (``python -m bench.prompt_rows --runs 5``: every
    projection of 30 SmolLM2 layers, 2 threads, medians, 2026-12-07). With native bfloat16
    the two cross between 32 and 64 rows (48 rows: 35.2 against 35.9 ms; 64: 43.0 against
    34.0). Held to AVX2, widening to float32 costs more than the kernel up to about 300
    rows (80 rows: 113 against 194 ms; 160: 219 against 289; 320: 433 against 426), since
    every weight is written out at four times its size before the product reads it again.
    """
    return 48 if fast_bf16_matmul() else 256


class Int8Linear(nn.Module):
    """A Linear layer whose weights are int8 with one float scale per output channel.

    Args:
        weight: the float weights, (out_features, in_features); rounded from float32.
        bias: the float bias, or None.
    """

    weight_int8: torch.Tensor
    scales: torch.Tensor
    bias: torch.Tensor | None

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        super().__init__()
        weight = weight.detach().float()
        # Symmetric per output channel: the channel's largest weight maps to 127.
        scales = weight.abs().amax(dim=1).clamp(min=torch.finfo(torch.float32).tiny) / 127.0
        # The kernel takes the scales in the activations' dtype: round with the scale it
        # will use, so each weight is off by at most half a step of its own channel.
        scales = scales.to(ACTIVATIONS).float()
        quantized = torch.round(weight / scales[:, None]).clamp(-127, 127).to(torch.int8)
        self.in_features = weight.shape[1]
        self.out_features = weight.shape[0]
        self.register_buffer("weight_int8", quantized.contiguous())
        self.register_buffer("scales", scales.to(ACTIVATIONS))
        self.register_buffer(
            "bias", None if bias is None else bias.detach().to(ACTIVATIONS), persistent=True
        )

    def dequantized(self, dtype: torch.dtype = ACTIVATIONS) -> torch.Tensor:
        """The weights widened to ``dtype`` (what the prompt's products use)."""
        return self.weight_int8.to(dtype) * self.scales.to(dtype)[:, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        rows = x.reshape(-1, self.in_features)
        if rows.dtype != ACTIVATIONS:
            rows = rows.to(ACTIVATIONS)
        if rows.shape[0] <= prompt_kernel_rows():
            out = torch.ops.aten._weight_int8pack_mm(
                rows.contiguous(), self.weight_int8, self.scales
            )
            if self.bias is not None:
                out = out + self.bias
        elif fast_bf16_matmul():
            out = functional.linear(rows, self.dequantized(), self.bias)
        else:
            # Without native bfloat16 matmuls (AVX2) a bfloat16 prompt is several times
            # slower than a float32 one (3.2 s against 0.74 s for 160 tokens, 1 thread).
            bias = None if self.bias is None else self.bias.float()
            out = functional.linear(rows.float(), self.dequantized(torch.float32), bias)
            out = out.to(ACTIVATIONS)
        return out.reshape(*shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 weights"


def quantize_weights(model: nn.Module) -> int:
    """Replace every ``nn.Linear`` of ``model`` (the LM head included) by an ``Int8Linear``,
    in place, and put the rest of the model (embeddings, norms) in bfloat16.

    A head tied to the input embeddings is untied: the head reads int8 weights, the
    embedding lookup keeps its bfloat16 rows. GPT-2's ``Conv1D`` layers become Linear
    first. The model should hold float32 weights, so each is rounded once.

    Returns:
        How many layers now hold int8 weights.
    """
    from textgamegen.narration.device import conv1d_to_linear

    conv1d_to_linear(model)
    replaced = 0
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if type(child) is nn.Linear:
                setattr(parent, child_name, Int8Linear(child.weight, child.bias))
                replaced += 1
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "tie_word_embeddings"):
        # The head is an Int8Linear of its own now; a later tie_weights must not undo it.
        config.tie_word_embeddings = False
    model.to(ACTIVATIONS)
    return replaced


# The weights a speed probe reads in each pass, at most: twice the last-level cache of this
# project's AMD EPYC (32 MiB), so that they come from memory, as a model's weights do in
# decoding, not from a cache that one small matrix read again and again would sit in.
PROBE_BYTES = 64 * 1024 * 1024
PROBE_ROUNDS = 7


def kernel_speedup(
    in_features: int, out_features: int, dtype: torch.dtype, count: int = 1
) -> float:
    """How many times faster decoding products of this shape run with int8 weights than
    with ``dtype`` weights, measured here and now (a tenth of a second or so).

    Decoding reads every weight once a token, so the probe reads ``count`` distinct
    matrices a pass (the model's share of this shape, up to ``PROBE_BYTES``), not one
    matrix over and over, which would sit in the cache. The two kinds of pass alternate,
    and the speedup is the median of the rounds' ratios, so a burst of load on a busy
    machine weighs on both sides alike. It runs on one thread: on several, a product
    that another process crowds out waits a scheduler tick whatever its weights
    (``device.ThreadChoice``), and the probe measured 1.00x under load on 2 threads
    against 1.79x on one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _speedup(in_features, out_features, dtype, count)
    finally:
        torch.set_num_threads(threads)


def _speedup(in_features: int, out_features: int, dtype: torch.dtype, count: int) -> float:
    plain_bytes = in_features * out_features * dtype.itemsize
    count = max(1, min(count, PROBE_BYTES // max(1, plain_bytes)))
    shape = (out_features, in_features)
    plain_weights = [torch.ones(shape, dtype=dtype) for _ in range(count)]
    int8_weights = [torch.ones(shape, dtype=torch.int8) for _ in range(count)]
    scales = torch.ones(out_features, dtype=ACTIVATIONS)
    plain_x = torch.ones(1, in_features, dtype=dtype)
    int8_x = torch.ones(1, in_features, dtype=ACTIVATIONS)
    product = torch.ops.aten._weight_int8pack_mm

    def plain_pass() -> None:
        for weight in plain_weights:
            functional.linear(plain_x, weight)

    def int8_pass() -> None:
        for weight in int8_weights:
            product(int8_x, weight, scales)

    # The first pass of each pays for its allocations.
    plain_pass()
    int8_pass()
    ratios = []
    for _ in range(PROBE_ROUNDS):
        started = time.perf_counter()
        plain_pass()
        middle = time.perf_counter()
        int8_pass()
        ended = time.perf_counter()
        if ended > middle:
            ratios.append((middle - started) / (ended - middle))
    ratios.sort()
    return ratios[len(ratios) // 2] if ratios else 0.0


MIN_SPEEDUP = 1.1
"""``auto`` takes int8 only when a decoding product measures at least this much faster."""
MAX_LOSS_RISE = 0.01
"""``auto`` takes int8 only when the probe text's loss rises by at most this share (1%)."""
PROBE_TEXT = (
    "The lighthouse keeper climbed the narrow stair with a brass lantern in one hand. "
    "Rain ran down the salt-crusted glass, and far below the sea worked at the rocks. "
    '"Nobody has come this way for years," he said, and set the lantern on the table. '
    "Dust lay thick on the charts, the ink faded to the colour of weak tea."
)
"""A few lines of plain prose the ``auto`` check scores before and after rounding."""


def probe_loss(model: nn.Module, ids: list[int]) -> float:
    """The model's mean next-token loss (nats) over ``ids`` (cut to the model's context)."""
    from textgamegen.narration.decode import context_window

    tensor = torch.tensor([ids[: context_window(getattr(model, "config", None))]])
    with torch.inference_mode():
        logits = model(input_ids=tensor).logits[0, :-1].float()
    return float(functional.cross_entropy(logits, tensor[0, 1:]))


def choose_int8(model: nn.Module, ids: list[int], plain: torch.dtype) -> str:
    """Quantise ``model`` (float32 weights) in place when int8 pays here, else give it
    ``plain`` weights; ``dtype = auto, quantize = auto`` on the CPU.

    int8 is taken when the kernel exists, a decoding product of the model's own MLP shape
    measures ``MIN_SPEEDUP`` faster than with ``plain`` weights, and the loss on ``ids``
    rises by at most ``MAX_LOSS_RISE`` against float32.

    Returns:
        "" when int8 was taken, else why not (for the generator's record).
    """
    from textgamegen.narration.device import conv1d_to_linear

    if not kernel_available():
        model.to(plain)
        return "this torch has no int8 kernel for the CPU"
    conv1d_to_linear(model)  # GPT-2's Conv1D layers: the same products as Linear ones
    shape = _mlp_shape(model)
    speedup = (
        kernel_speedup(*shape, plain, _linear_parameters(model) // math.prod(shape))
        if shape
        else 0.0
    )
    if speedup < MIN_SPEEDUP:
        model.to(plain)
        return f"int8 measured {speedup:.2f}x the speed of {_name(plain)} here"
    before = probe_loss(model, ids)
    kept = {name: module for name, module in model.named_modules() if type(module) is nn.Linear}
    floats = {
        name: tensor.detach().clone()
        for name, tensor in model.state_dict(keep_vars=True).items()
        if not any(name.startswith(f"{linear}.") for linear in kept)
    }
    config = getattr(model, "config", None)
    tied = getattr(config, "tie_word_embeddings", None)
    quantize_weights(model)
    after = probe_loss(model, ids)
    rise = after / before - 1.0 if before > 0 else float("inf")
    if rise <= MAX_LOSS_RISE:
        return ""
    # Too costly for this model: put the float layers back as they were.
    for name, module in kept.items():
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, module)
    model.load_state_dict(floats, strict=False, assign=True)
    if tied is not None and config is not None:
        config.tie_word_embeddings = tied
        getattr(model, "tie_weights", lambda: None)()
    model.to(plain)
    return f"int8 raised the probe's loss by {rise * 100:.1f}%"


def _mlp_shape(model: nn.Module) -> tuple[int, int] | None:
    """(in, out) of the model's most common Linear shape (its MLP's up projection)."""
    shapes: dict[tuple[int, int], int] = {}
    for module in model.modules():
        if type(module) is nn.Linear:
            key = (module.in_features, module.out_features)
            shapes[key] = shapes.get(key, 0) + 1
    return max(shapes, key=lambda key: (shapes[key], key[1])) if shapes else None


def _linear_parameters(model: nn.Module) -> int:
    """How many weights the model's Linear layers hold (what a decoding step reads)."""
    return sum(module.weight.numel() for module in model.modules() if type(module) is nn.Linear)


def _name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")
