"""4-bit weights for decoding on the CPU, where they cost nothing: the base already is 4-bit.

The shipped narrators are LoRA adapters on SmolLM2-135M, whose only base in a registry
is a Q4_1 GGUF file: every projection's weights are 4-bit numbers times a scale plus a
minimum, one scale and minimum per 32 weights. Unpacked to float32, those weights still
lie exactly on that grid, so putting them back into 4 bits loses nothing (``q4_grid``
finds it from the weights and ``grid_error`` checks that it holds). The adapter's change
to a projection is low rank (``B @ A``); merged in, it would move every weight off the
grid, so it is kept beside the 4-bit base and added as two small products
(``LowRank``): the line the player reads is the merged model's, up to bfloat16 rounding.

Decoding a token reads every weight once and waits on memory, and 4 bits are half the
bytes of the int8 weights: the 30 layers' products take 5.7 ms a token here against
12.2 ms with int8 (AMD EPYC, 2 threads, weights not in cache). torch's CPU kernel
(``_weight_int4pack_mm_for_cpu``) wants bfloat16 activations, as the int8 one does.

A prompt (many rows) is compute-bound, and there the 4-bit kernel is slower than
widening the int8 weights (``Int8Linear``), so an ``Int4Linear`` keeps both: 4 bits for a
step of a few rows, int8 for the prompt.

What it buys is small: the adapter's two small products per projection eat most of what
the 4 bits save. A decoding step took 14.5 ms against int8's 15.6 ms (19.4 against 21.7
held to AVX2), and in the game's loop, guards and sampling included, 51.8 against 46.4
tokens a second (41.3 against 43.1 held to AVX2). So it is ``quantize = "int4"``, asked
for by name; ``auto`` keeps int8, whose choice does not hang on a measurement this close.

Imports torch; only the backend's loader imports it, inside the generation worker.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from textgamegen.narration.int8_weights import ACTIVATIONS, KERNEL_ROWS, Int8Linear

GROUP = 32
"""Weights per scale and minimum along a row: Q4_1's block."""
GRID_TOLERANCE = 1e-5
"""A weight off its grid point by more than this share of its row's largest weight means
the weights were never 4-bit (a merged or fully trained model): 4 bits would round them."""


def kernel_available() -> bool:
    """Whether this torch build has the 4-bit kernels for the CPU."""
    try:
        packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(
            torch.zeros(64, GROUP * 2, dtype=torch.int32), 1
        )
        scales = torch.ones(2, 64, 2, dtype=ACTIVATIONS)
        out = torch.ops.aten._weight_int4pack_mm_for_cpu(
            torch.ones(1, GROUP * 2, dtype=ACTIVATIONS), packed, GROUP, scales
        )
    except (AttributeError, RuntimeError, NotImplementedError):
        return False
    return tuple(out.shape) == (1, 64)


def fits(out_features: int, in_features: int) -> bool:
    """Whether a weight of this shape can be packed: the kernel takes rows in blocks of
    64 (so packed blocks can be stacked) and whole groups along a row."""
    return out_features % 64 == 0 and in_features % GROUP == 0


Grid = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
"""(q, scales, minimums): a weight on a 4-bit grid (``q4_grid``)."""


def q4_grid(weight: torch.Tensor) -> Grid:
    """The 4-bit grid of ``weight`` (out, in): each group of ``GROUP`` weights as
    ``q * scale + minimum`` with q in 0..15, the scale and minimum from the group's range.

    Q4_1 stores each block's minimum and its range over 15, so a weight unpacked from it
    is its block's minimum (q = 0), its maximum (q = 15), or a step between: this finds
    the same numbers back.

    Returns:
        (q, scales, minimums): q as int32 (out, in); scales and minimums (out, in / GROUP),
        float32.
    """
    out_features, in_features = weight.shape
    groups = weight.detach().float().reshape(out_features, in_features // GROUP, GROUP)
    minimums = groups.amin(dim=-1)
    scales = (groups.amax(dim=-1) - minimums) / 15.0
    steps = torch.where(scales > 0, scales, torch.ones_like(scales))
    q = torch.round((groups - minimums[..., None]) / steps[..., None]).clamp(0, 15)
    return q.to(torch.int32).reshape(out_features, in_features), scales, minimums


def grid_error(weight: torch.Tensor, grid: Grid) -> float:
    """How far ``weight`` is from its grid: the largest error over the row's largest weight."""
    q, scales, minimums = grid
    weight = weight.detach()
    out_features, in_features = weight.shape
    rebuilt = q.float().reshape(out_features, -1, GROUP) * scales[..., None] + minimums[..., None]
    error = (rebuilt.reshape(out_features, in_features) - weight.float()).abs().amax(dim=1)
    largest = weight.float().abs().amax(dim=1).clamp(min=torch.finfo(torch.float32).tiny)
    return float((error / largest).max())


@dataclass
class Q4Weights:
    """A weight on its 4-bit grid, packed for the CPU kernel.

    Attributes:
        packed: the kernel's packed 4-bit weights.
        scales_zeros: (in / GROUP, out, 2): each group's scale and its value at q = 8, in
            the activations' dtype (the kernel computes ``(q - 8) * scale + zero``).
        out_features: rows of the weight.
    """

    packed: torch.Tensor
    scales_zeros: torch.Tensor
    out_features: int

    @classmethod
    def of(cls, weight: torch.Tensor) -> Q4Weights | None:
        """The packed grid of ``weight``, or None when it is not on one (``GRID_TOLERANCE``)
        or its shape cannot be packed."""
        out_features, in_features = weight.shape
        if not fits(out_features, in_features):
            return None
        grid = q4_grid(weight)
        if grid_error(weight, grid) > GRID_TOLERANCE:
            return None
        q, scales, minimums = grid
        zeros = minimums + 8.0 * scales
        scales_zeros = torch.stack([scales.t(), zeros.t()], dim=-1).contiguous()
        packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q.contiguous(), 1)
        return cls(packed, scales_zeros.to(ACTIVATIONS), out_features)

    @classmethod
    def stacked(cls, parts: list[Q4Weights]) -> Q4Weights:
        """One weight whose rows are ``parts``' rows in order (q, k and v as one product)."""
        return cls(
            torch.cat([part.packed for part in parts]).contiguous(),
            torch.cat([part.scales_zeros for part in parts], dim=1).contiguous(),
            sum(part.out_features for part in parts),
        )

    def product(self, rows: torch.Tensor) -> torch.Tensor:
        """``rows`` (n, in), in the activations' dtype, times the weight: (n, out)."""
        return torch.ops.aten._weight_int4pack_mm_for_cpu(
            rows, self.packed, GROUP, self.scales_zeros
        )


@dataclass
class LowRank:
    """An adapter's change to a projection, ``up @ down``, its scaling folded into ``up``.

    Kept in float32: products this small cost less there than in bfloat16 (8 against 40
    microseconds for a row through 576 -> 48 -> 960, 2 threads).
    """

    down: torch.Tensor  # (in, r), transposed once so the product needs no copy
    up: torch.Tensor  # (r, out)

    @classmethod
    def of(cls, lora_a: torch.Tensor, lora_b: torch.Tensor, scaling: float) -> LowRank:
        """From PEFT's ``lora_A`` (r, in) and ``lora_B`` (out, r) weights."""
        return cls(
            lora_a.detach().float().t().contiguous(),
            (lora_b.detach().float() * scaling).t().contiguous(),
        )

    @classmethod
    def stacked(cls, parts: list[LowRank]) -> LowRank:
        """One change for several projections of the same input: their downs side by
        side, their ups on the diagonal."""
        down = torch.cat([part.down for part in parts], dim=1)
        up = torch.block_diag(*(part.up for part in parts))
        return cls(down.contiguous(), up.contiguous())

    def product(self, rows: torch.Tensor) -> torch.Tensor:
        """The change for ``rows`` (n, in), float32: (n, out)."""
        return torch.mm(torch.mm(rows.float(), self.down), self.up)


class Int4Linear(Int8Linear):
    """An ``Int8Linear`` that decodes from its 4-bit base and its adapter's change.

    Up to ``KERNEL_ROWS`` rows run the 4-bit kernel plus the low-rank change; a prompt
    runs the int8 weights of the merged projection, as an ``Int8Linear`` does.
    """

    def __init__(self, merged: Int8Linear, base: Q4Weights, change: LowRank | None) -> None:
        nn.Module.__init__(self)
        self.in_features = merged.in_features
        self.out_features = merged.out_features
        self.register_buffer("weight_int8", merged.weight_int8)
        self.register_buffer("scales", merged.scales)
        self.register_buffer("bias", merged.bias)
        self.base = base
        self.change = change
        self.four_bit_rows = KERNEL_ROWS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        rows = x.reshape(-1, self.in_features)
        if rows.shape[0] > self.four_bit_rows:
            return super().forward(x)
        rows = rows.to(ACTIVATIONS).contiguous()
        out = self.base.product(rows)
        if self.change is not None:
            out = out + self.change.product(rows).to(ACTIVATIONS)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        change = ", with its adapter's change" if self.change is not None else ""
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"4-bit weights for decoding{change}, int8 for prompts"
        )


@dataclass
class FourBitParts:
    """What ``attach`` needs for each projection of a model, by module name: its base on
    the 4-bit grid and the adapter's change (None for a model played without one)."""

    bases: dict[str, Q4Weights]
    changes: dict[str, LowRank]
    why_not: str = ""


def attach(model: nn.Module, parts: FourBitParts) -> int:
    """Turn each ``Int8Linear`` of ``model`` named in ``parts`` into an ``Int4Linear``,
    in place.

    Returns:
        How many projections now decode from 4 bits.
    """
    done = 0
    for name, module in list(model.named_modules()):
        base = parts.bases.get(name)
        if type(module) is not Int8Linear or base is None:
            continue
        if base.out_features != module.out_features:
            continue
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, Int4Linear(module, base, parts.changes.get(name)))
        done += 1
    return done


def set_four_bit_rows(model: nn.Module, rows: int) -> None:
    """Up to how many rows every ``Int4Linear`` uses its 4 bits (``bench.weights`` scores
    the test split with every row on them)."""
    for module in model.modules():
        if isinstance(module, Int4Linear):
            module.four_bit_rows = rows


def parts_of_adapter(peft_model: nn.Module) -> FourBitParts:
    """The 4-bit bases and low-rank changes of a PEFT model, before it is merged.

    Names are those of the merged model (PEFT's ``base_model.model.`` prefix removed).
    A layer with several adapters, or a DoRA one, is left to int8.
    """
    bases: dict[str, Q4Weights] = {}
    changes: dict[str, LowRank] = {}
    for name, module in peft_model.named_modules():
        base_layer = getattr(module, "base_layer", None)
        lora_a, lora_b = getattr(module, "lora_A", None), getattr(module, "lora_B", None)
        if type(base_layer) is not nn.Linear or not lora_a or not lora_b:
            continue
        adapter_names = list(lora_a.keys())
        if len(adapter_names) != 1 or getattr(module, "use_dora", {}).get(adapter_names[0]):
            continue
        key = adapter_names[0]
        base = Q4Weights.of(base_layer.weight)
        if base is None:
            continue
        merged_name = name.removeprefix("base_model.model.")
        bases[merged_name] = base
        changes[merged_name] = LowRank.of(
            lora_a[key].weight, lora_b[key].weight, float(module.scaling[key])
        )
    why_not = "" if bases else "no projection of the base is on a 4-bit grid"
    return FourBitParts(bases, changes, why_not)


def parts_of_model(model: nn.Module) -> FourBitParts:
    """The 4-bit bases of a model played without an adapter (an unpacked GGUF base)."""
    bases = {
        name: base
        for name, module in model.named_modules()
        if type(module) is nn.Linear and (base := Q4Weights.of(module.weight)) is not None
    }
    why_not = "" if bases else "no projection of the model is on a 4-bit grid"
    return FourBitParts(bases, {}, why_not)
