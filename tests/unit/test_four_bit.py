"""4-bit decoding (``narration.int4_weights``) and the lean decoding step
(``narration.llama_step``): a base on a Q4_1 grid is found back exactly, an adapter's
change rides beside it, and the step gives the logits ``model(...)`` gives, on tiny
random Llamas (and the ``quantize = "int4"`` setting through the loader)."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import torch
from torch import nn

from textgamegen.config import QUANTIZE
from textgamegen.engine.content import ContentKind, ContentRequest
from textgamegen.models.loader import load_generator
from textgamegen.models.random_model import build_random_model
from textgamegen.narration import int4_weights, int8_weights
from textgamegen.narration.decode import cache_argument, output_cache
from textgamegen.narration.int4_weights import (
    GROUP,
    Int4Linear,
    LowRank,
    Q4Weights,
    attach,
    grid_error,
    parts_of_adapter,
    parts_of_model,
    q4_grid,
)
from textgamegen.narration.int8_weights import Int8Linear, quantize_weights
from textgamegen.narration.llama_step import LlamaStep

pytestmark = pytest.mark.skipif(
    not (int4_weights.kernel_available() and int8_weights.kernel_available()),
    reason="this torch has no 4-bit or int8 kernel for the CPU",
)
PUSH = ContentRequest(ContentKind.ACTION, command="push open the door", room="Hall", seed=3)


def on_grid(out_features: int, in_features: int, seed: int = 0) -> torch.Tensor:
    """A float32 weight as a Q4_1 file holds one: q * scale + minimum per 32 weights, the
    scale and minimum half-precision numbers, and each block using q = 0 and q = 15."""
    generator = torch.Generator().manual_seed(seed)
    blocks = in_features // GROUP
    q = torch.randint(0, 16, (out_features, blocks, GROUP), generator=generator)
    q[..., 0], q[..., 1] = 0, 15
    scales = (torch.rand(out_features, blocks, 1, generator=generator) * 0.02 + 0.001).half()
    minimums = (-torch.rand(out_features, blocks, 1, generator=generator) * 0.15).half()
    return (q.float() * scales.float() + minimums.float()).reshape(out_features, in_features)


def snap(model: nn.Module) -> nn.Module:
    """Put every projection of ``model`` (not the tied head) on a 4-bit grid, in place."""
    for index, module in enumerate(model.modules()):
        if type(module) is nn.Linear and module.weight is not model.get_input_embeddings().weight:
            with torch.no_grad():
                module.weight.copy_(on_grid(*module.weight.shape, seed=index))
    return model


def tiny_llama(layers: int = 2) -> nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=320,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config).eval()


def with_adapter(model: nn.Module) -> nn.Module:
    """``model`` wrapped in a PEFT LoRA adapter on every projection, its B not zero (as
    after training), not yet merged."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=[
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        ],
    )
    peft = get_peft_model(model, config)
    torch.manual_seed(1)
    for name, parameter in peft.named_parameters():
        if "lora_B" in name:
            with torch.no_grad():
                parameter.normal_(0, 0.2)
    return peft.eval()


def test_a_q4_1_weight_is_found_back_exactly() -> None:
    weight = on_grid(64, 96)
    q, scales, minimums = q4_grid(weight)
    assert q.dtype == torch.int32 and int(q.min()) == 0 and int(q.max()) == 15
    assert grid_error(weight, (q, scales, minimums)) < 1e-6
    packed = Q4Weights.of(weight)
    assert packed is not None and packed.out_features == 64
    x = torch.randn(3, 96)
    torch.testing.assert_close(
        packed.product(x.to(torch.bfloat16)).float(), x @ weight.t(), atol=0.05, rtol=0.02
    )


def test_weights_that_were_never_4_bit_are_not_rounded_to_4_bits() -> None:
    torch.manual_seed(0)
    assert Q4Weights.of(torch.randn(64, 96)) is None
    nudged = on_grid(64, 96)
    nudged[3, 40] += 1e-3  # one weight between two grid points
    assert Q4Weights.of(nudged) is None
    assert Q4Weights.of(on_grid(64, 96) + 1e-3) is not None  # a shifted grid is a grid
    assert Q4Weights.of(on_grid(48, 96)) is None  # rows the kernel cannot block


def test_stacked_products_are_the_parts_side_by_side() -> None:
    parts = [Q4Weights.of(on_grid(64, 64, seed)) for seed in range(3)]
    changes = [LowRank.of(torch.randn(4, 64), torch.randn(64, 4), 2.0) for _ in range(3)]
    assert all(part is not None for part in parts)
    x = torch.randn(2, 64).to(torch.bfloat16)
    stacked = Q4Weights.stacked(parts)  # type: ignore[arg-type]
    expected = torch.cat([part.product(x) for part in parts], dim=1)  # type: ignore[union-attr]
    assert torch.equal(stacked.product(x), expected)
    joined = LowRank.stacked(changes).product(x)
    torch.testing.assert_close(joined, torch.cat([c.product(x) for c in changes], dim=1))


@pytest.mark.parametrize("rows", [1, 4, int8_weights.KERNEL_ROWS + 1])
def test_an_int4_layer_computes_its_base_plus_the_change(rows: int) -> None:
    torch.manual_seed(0)
    base = on_grid(128, 64)
    lora_a, lora_b = torch.randn(4, 64) * 0.1, torch.randn(128, 4) * 0.1
    merged = base + 2.0 * lora_b @ lora_a
    layer = Int4Linear(Int8Linear(merged), Q4Weights.of(base), LowRank.of(lora_a, lora_b, 2.0))  # type: ignore[arg-type]
    x = torch.randn(rows, 64)
    out = layer(x.to(torch.bfloat16))
    assert out.dtype == torch.bfloat16 and out.shape == (rows, 128)
    torch.testing.assert_close(out.float(), x @ merged.t(), atol=0.06, rtol=0.03)


def test_an_adapter_rides_beside_its_4_bit_base_and_the_step_matches_the_model() -> None:
    fp32 = snap(tiny_llama())
    ids = torch.tensor([[5, 17, 42, 99, 7, 250, 3, 11]])
    with torch.inference_mode():
        unchanged = fp32(input_ids=ids).logits[:, -1].float()
    peft = with_adapter(fp32)
    parts = parts_of_adapter(peft)
    # Every projection of both layers, named as in the merged model.
    assert len(parts.bases) == 14 and set(parts.changes) == set(parts.bases)
    assert "model.layers.1.mlp.down_proj" in parts.bases
    merged = peft.merge_and_unload()
    reference = copy.deepcopy(merged)
    quantize_weights(merged)
    assert attach(merged, parts) == 14
    step = LlamaStep.of(merged)
    assert step is not None

    name = cache_argument(merged)
    with torch.inference_mode():
        out = merged(input_ids=ids, use_cache=True)
        plain_cache = output_cache(out)
        lean_cache = copy.deepcopy(plain_cache)
        exact = reference(input_ids=ids).logits[:, -1].float()
        token = ids[:, -1:]
        for _ in range(6):
            plain = merged(input_ids=token, use_cache=True, **{name: plain_cache})
            plain_logits = plain.logits[:, -1].float()
            lean_logits = step(token, lean_cache)
            # Attention in float32 here and bfloat16 in the model: close, not equal.
            torch.testing.assert_close(lean_logits, plain_logits, atol=0.05, rtol=0.05)
            token = plain_logits.argmax(-1, keepdim=True)
        assert lean_cache.get_seq_length() == plain_cache.get_seq_length() == ids.shape[1] + 6
        # And the 4-bit model computes what the float32 merged model does, to rounding:
        # far closer to it than the base without the adapter's change is.
        int4_weights.set_four_bit_rows(merged, 1 << 30)
        first = merged(input_ids=ids).logits[:, -1].float()
    rounding = float((first - exact).abs().max())
    change = float((exact - unchanged).abs().max())
    assert rounding < 0.2 * change, (rounding, change)


def test_int4_layers_stack_into_the_step_and_int8_ones_too() -> None:
    model = snap(tiny_llama(1))
    parts = parts_of_model(model)
    quantize_weights(model)
    plain_step = LlamaStep.of(model)
    assert plain_step is not None  # int8 products, stacked
    attach(model, parts)
    assert sum(isinstance(module, Int4Linear) for module in model.modules()) == 7
    four_step = LlamaStep.of(model)
    assert four_step is not None and four_step.layers[0].qkv.four_bit is not None


def test_the_step_is_only_for_models_it_knows() -> None:
    model = tiny_llama(1)
    assert LlamaStep.of(model) is None  # float weights: transformers' forward
    quantize_weights(model)
    assert LlamaStep.of(model) is not None
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=64, n_head=2, vocab_size=320)).eval()
    quantize_weights(gpt2)
    assert LlamaStep.of(gpt2) is None


@pytest.fixture(scope="module")
def grid_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random Llama whose projections lie on a 4-bit grid, as a GGUF base's do."""
    from transformers import AutoModelForCausalLM

    os.environ["HF_HUB_OFFLINE"] = "1"
    path = build_random_model(
        tmp_path_factory.mktemp("models") / "grid-llama", shape="small", arch="llama"
    )
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    snap(model).save_pretrained(path)
    return path


def test_int4_is_a_quantize_choice() -> None:
    assert "int4" in QUANTIZE


def test_the_loader_decodes_from_4_bits_when_asked(grid_dir: Path) -> None:
    gen = load_generator(str(grid_dir), "cpu", quantize="int4", threads=1)
    assert gen.dtype == "int4" and gen.notice == ""
    assert sum(isinstance(m, Int4Linear) for m in gen.model.modules()) > 0
    assert gen.decode_step is not None
    narration = gen.generate(PUSH)
    assert narration.text.strip()


def test_int4_on_weights_off_the_grid_says_so_and_decodes_in_int8(tmp_path: Path) -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    path = build_random_model(tmp_path / "plain-llama", shape="small", arch="llama")
    gen = load_generator(str(path), "cpu", quantize="int4", threads=1)
    assert gen.dtype == "int8"
    assert "not on a 4-bit grid" in gen.notice
    assert not any(isinstance(m, Int4Linear) for m in gen.model.modules())
    assert gen.generate(PUSH).text.strip()


def test_auto_keeps_int8_on_a_4_bit_base(grid_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 4 bits buy little and only with AVX-512: auto does not take them on its own.
    monkeypatch.setattr(int8_weights, "kernel_speedup", lambda *_args: 2.0)
    monkeypatch.setattr(int8_weights, "MAX_LOSS_RISE", float("inf"))
    gen = load_generator(str(grid_dir), "cpu", quantize="auto", threads=1)
    assert gen.dtype == "int8" and gen.decode_step is not None
    assert not any(isinstance(m, Int4Linear) for m in gen.model.modules())


def test_a_step_of_more_rows_than_the_kernels_take_goes_through_the_model() -> None:
    model = tiny_llama(1)
    quantize_weights(model)
    step = LlamaStep.of(model)
    assert step is not None
    rows = int8_weights.KERNEL_ROWS + 2
    ids = torch.tensor([[5, 17, 42]]).expand(rows, -1)
    name = cache_argument(model)
    with torch.inference_mode():
        cache = output_cache(model(input_ids=ids, use_cache=True))
        expected_cache = copy.deepcopy(cache)
        logits = step(ids[:, -1:], cache)
        expected = model(input_ids=ids[:, -1:], use_cache=True, **{name: expected_cache})
    assert torch.equal(logits, expected.logits[:, -1].float())
    assert cache.get_seq_length() == 4
