"""One decoding step of a Llama-architecture narrator, without transformers' module tree.

A step of SmolLM2-135M through ``model(...)`` calls about 480 modules, builds a causal
mask and the rotary tables, and wraps its output: 26.3 ms a token on 2 threads after a
160-token prompt against 19.3 ms here (the narrator's int8 weights, AMD EPYC with
AVX-512, 2026-12-06, load 1.4-1.6, the two stepped in turn; the shared machine's
figures drift from run to run, their ratio much less). Here a layer is a handful of
products: q, k and v as one, gate and up as one (their weights stacked once, at load),
and as few small ops between them as will do, since what a step spends beyond the
products is mostly ops dispatched from Python: one rms_norm call per norm, q and k
rotated together and split_with_sizes for Tensor.split brought a step to 0.90-0.96 of
the one before them (three runs stepped in turn, same logits bit for bit; 0.965 with
AVX2 only). The logits are the model's to rounding: the attention runs in float32
here, in bfloat16 there.

Only for what the loop needs most: rows that all continue the same prompt (no padding
mask), one new token each, the weights in int8 or 4 bits (``Int8Linear``,
``Int4Linear``), and the standard Llama layer (RMSNorm, rotary positions of the default
kind, SiLU MLP, no biases). Anything else keeps ``model(...)``: ``LlamaStep.of`` says None.

Imports torch; only the backend's loader imports it, inside the generation worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.nn import functional

from textgamegen.narration.int4_weights import Int4Linear, LowRank, Q4Weights
from textgamegen.narration.int8_weights import ACTIVATIONS, KERNEL_ROWS, Int8Linear


@dataclass
class _Product:
    """Several projections of one input as one product (their outputs side by side)."""

    int8: tuple[torch.Tensor, torch.Tensor] | None = None
    four_bit: Q4Weights | None = None
    change: LowRank | None = None

    @classmethod
    def of(cls, modules: list[Any]) -> _Product | None:
        if all(type(module) is Int8Linear for module in modules):
            weights = torch.cat([module.weight_int8 for module in modules]).contiguous()
            scales = torch.cat([module.scales for module in modules]).contiguous()
            return cls(int8=(weights, scales))
        if all(type(module) is Int4Linear for module in modules):
            changes = [module.change for module in modules]
            if any(change is None for change in changes) and not all(
                change is None for change in changes
            ):
                return None
            return cls(
                four_bit=Q4Weights.stacked([module.base for module in modules]),
                change=None if changes[0] is None else LowRank.stacked(changes),
            )
        return None

    def __call__(self, rows: torch.Tensor) -> torch.Tensor:
        if self.four_bit is not None:
            out = self.four_bit.product(rows)
            if self.change is not None:
                out = out + self.change.product(rows).to(ACTIVATIONS)
            return out
        assert self.int8 is not None
        return torch.ops.aten._weight_int8pack_mm(rows, *self.int8)


@dataclass
class _Layer:
    attention_norm: torch.Tensor
    qkv: _Product
    output: _Product
    mlp_norm: torch.Tensor
    gate_up: _Product
    down: _Product


class LlamaStep:
    """``step(ids, cache)``: the next-token logits (rows, vocab), float32, for ``ids``
    (rows, 1) after the cached positions, the cache grown by one position.

    Built by ``of``; holds the model's own tensors (the stacked products are new).
    """

    def __init__(self, model: Any, layers: list[_Layer], head: _Product) -> None:
        from textgamegen.narration.decode import cache_argument

        config = model.config
        inner = model.model
        self._model = model
        self._cache_name = cache_argument(model)
        self.layers = layers
        self.head = head
        self.embeddings = inner.embed_tokens.weight
        self.final_norm = inner.norm.weight
        self.eps = float(config.rms_norm_eps)
        self.heads = int(config.num_attention_heads)
        self.kv_heads = int(config.num_key_value_heads)
        self.head_dim = int(
            getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        )
        self.intermediate = int(config.intermediate_size)
        self.width = (int(config.hidden_size),)
        self.inv_freq = inner.rotary_emb.inv_freq.float()
        self.rope_scaling = float(inner.rotary_emb.attention_scaling)

    @classmethod
    def of(cls, model: Any) -> LlamaStep | None:
        """The step for ``model``, or None where it is not a plain Llama with int8 or
        4-bit projections."""
        config = getattr(model, "config", None)
        inner = getattr(model, "model", None)
        if (
            config is None
            or inner is None
            or getattr(config, "model_type", "") != "llama"
            or getattr(config, "hidden_act", "") != "silu"
            or getattr(config, "attention_bias", True)
            or getattr(config, "mlp_bias", True)
            or getattr(getattr(inner, "rotary_emb", None), "rope_type", "") != "default"
            or getattr(config, "tie_word_embeddings", True)
        ):
            return None
        head_module = model.get_output_embeddings()
        head = _Product.of([head_module]) if isinstance(head_module, Int8Linear) else None
        if head is None:
            return None
        layers = []
        for layer in inner.layers:
            attention, mlp = layer.self_attn, layer.mlp
            products = (
                _Product.of([attention.q_proj, attention.k_proj, attention.v_proj]),
                _Product.of([attention.o_proj]),
                _Product.of([mlp.gate_proj, mlp.up_proj]),
                _Product.of([mlp.down_proj]),
            )
            if any(product is None for product in products):
                return None
            qkv, output, gate_up, down = products
            layers.append(
                _Layer(
                    layer.input_layernorm.weight,
                    qkv,  # type: ignore[arg-type]
                    output,  # type: ignore[arg-type]
                    layer.post_attention_layernorm.weight,
                    gate_up,  # type: ignore[arg-type]
                    down,  # type: ignore[arg-type]
                )
            )
        return cls(model, layers, head)

    def _norm(self, hidden: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        # LlamaRMSNorm's arithmetic in one call (fewer ops dispatched from Python):
        # rms_norm widens bfloat16 to float32 inside and rounds back, as LlamaRMSNorm
        # does, so this equals it bit for bit. The weight stays a separate product: given
        # to rms_norm, it is applied before the rounding and the result differs from the
        # model's by a rounding.
        return weight * functional.rms_norm(hidden, self.width, eps=self.eps)

    def __call__(self, ids: torch.Tensor, cache: object) -> torch.Tensor:
        rows = ids.shape[0]
        if rows > KERNEL_ROWS:
            # More rows than the kernels' decoding path takes (sampling.num_candidates
            # allows 16): the model's own forward widens the weights for them.
            out = self._model(input_ids=ids, use_cache=True, **{self._cache_name: cache})
            return out.logits[:, -1, :].float()
        position = cache.get_seq_length()  # type: ignore[attr-defined]
        hidden = functional.embedding(ids.reshape(rows), self.embeddings)
        heads, kv_heads, size = self.heads, self.kv_heads, self.head_dim
        # The rotary positions' tables for this position, once a step: rotate_half(x) * sin
        # is x with its halves swapped (a roll by half) times sin with its first half
        # negated, so that sign goes into the table.
        frequencies = float(position) * self.inv_freq
        cos = (torch.cat((frequencies, frequencies)).cos() * self.rope_scaling).to(hidden.dtype)
        sine = frequencies.sin() * self.rope_scaling
        signed_sin = torch.cat((-sine, sine)).to(hidden.dtype)
        half = size // 2
        turned_heads = heads + kv_heads
        for index, layer in enumerate(self.layers):
            qkv = layer.qkv(self._norm(hidden, layer.attention_norm))
            # The product's outputs are [q | k | v] side by side: q and k as one block of
            # heads, rotated at once (one op for both instead of several for each).
            # split_with_sizes rather than split: Tensor.split is a Python wrapper around
            # it, and costs twice as much for these small tensors.
            turned, value = qkv.split_with_sizes((turned_heads * size, kv_heads * size), 1)
            turned = turned.view(rows, turned_heads, 1, size)
            turned = turned * cos + turned.roll(half, -1) * signed_sin
            query, key = turned.split_with_sizes((heads, kv_heads), 1)
            keys, values = cache.update(  # type: ignore[attr-defined]
                key, value.view(rows, kv_heads, 1, size), index
            )
            # In float32: the CPU's bfloat16 attention is several times slower for one
            # query (162 against 34 microseconds over 200 positions, 2 threads).
            attended = functional.scaled_dot_product_attention(
                query.float(),
                keys.float(),
                values.float(),
                scale=size**-0.5,
                enable_gqa=heads != kv_heads,
            ).to(hidden.dtype)
            hidden = hidden + layer.output(attended.reshape(rows, heads * size))
            gate_up = layer.gate_up(self._norm(hidden, layer.mlp_norm))
            gate, up = gate_up.split_with_sizes((self.intermediate, self.intermediate), 1)
            hidden = hidden + layer.down(functional.silu(gate) * up)
        return self.head(self._norm(hidden, self.final_norm)).float()
