"""Weight-only int8 (``narration.int8_weights``): int8 weights with one scale per output
channel and bfloat16 activations, on tiny random GPT-2 and Llama models; the ``quantize``
setting's choices and ``auto``'s two checks (speed, loss on a probe text)."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import torch
from torch import nn

from textgamegen.config import QUANTIZE, Settings, SettingsError
from textgamegen.engine.content import ContentKind, ContentRequest
from textgamegen.models.loader import load_generator
from textgamegen.models.random_model import build_random_model
from textgamegen.narration import int8_weights
from textgamegen.narration.generator import GeneratorError
from textgamegen.narration.int8_weights import Int8Linear, quantize_weights

pytestmark = pytest.mark.skipif(
    not int8_weights.kernel_available(), reason="this torch has no _weight_int8pack_mm"
)
PUSH = ContentRequest(ContentKind.ACTION, command="push open the door", room="Hall", seed=3)


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def tiny_dir(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    os.environ["HF_HUB_OFFLINE"] = "1"
    return build_random_model(
        tmp_path_factory.mktemp("models") / f"tiny-{request.param}",
        n_positions=128,
        arch=request.param,
    )


@pytest.mark.parametrize("native_bf16", [True, False])
@pytest.mark.parametrize("rows", [1, 5, int8_weights.KERNEL_ROWS + 1, 40, "widened"])
def test_an_int8_layer_computes_what_its_rounded_weights_do(
    rows: int | str, native_bf16: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(int8_weights, "fast_bf16_matmul", lambda: native_bf16)
    if rows == "widened":
        # A long prompt: past the kernel's rows the weights are widened for the product.
        rows = int8_weights.prompt_kernel_rows() + 1
    assert isinstance(rows, int)
    torch.manual_seed(0)
    weight, bias = torch.randn(48, 32), torch.randn(48)
    layer = Int8Linear(weight, bias)
    assert layer.weight_int8.dtype == torch.int8 and layer.scales.shape == (48,)
    # One scale per output channel: each row's largest weight is about +-127.
    assert bool((layer.weight_int8.abs().amax(dim=1) >= 126).all())
    x = torch.randn(2, rows, 32)
    rounded = layer.weight_int8.float() * layer.scales.float()[:, None]
    expected = x @ rounded.t() + layer.bias.float()
    out = layer(x.to(torch.bfloat16))
    assert out.shape == (2, rows, 48) and out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), expected, atol=0.1, rtol=0.02)
    # And the rounding itself stays within half a step of its channel for every weight.
    steps = (rounded - weight).abs() / layer.scales.float()[:, None]
    assert float(steps.max()) <= 0.5 + 1e-3


@pytest.mark.parametrize("native_bf16", [True, False])
def test_a_prompts_rows_run_the_kernel_and_only_a_long_prompt_widens_the_weights(
    native_bf16: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Widening every weight for one product cost more than the kernel up to 48 rows with
    # native bfloat16 and about 300 held to AVX2 (bench/prompt_rows.py).
    monkeypatch.setattr(int8_weights, "fast_bf16_matmul", lambda: native_bf16)
    limit = int8_weights.prompt_kernel_rows()
    assert limit == (48 if native_bf16 else 256)
    layer = Int8Linear(torch.randn(24, 16))
    widened: list[int] = []
    dequantized = layer.dequantized

    def spy(dtype: torch.dtype = torch.bfloat16) -> torch.Tensor:
        widened.append(1)
        return dequantized(dtype)

    monkeypatch.setattr(layer, "dequantized", spy)
    layer(torch.randn(limit, 16, dtype=torch.bfloat16))
    assert widened == []
    layer(torch.randn(limit + 1, 16, dtype=torch.bfloat16))
    assert widened == [1]


def test_quantize_weights_replaces_every_linear_and_unties_the_head(tiny_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32).eval()
    ids = torch.tensor([[5, 17, 99, 3, 42, 7]])
    with torch.inference_mode():
        before = model(input_ids=ids).logits.float()
    embedding = model.get_input_embeddings().weight.detach().clone()
    replaced = quantize_weights(model)
    assert replaced >= 9  # 4 per block x 2 blocks + the LM head
    assert not any(type(m) in (nn.Linear,) for m in model.modules())
    assert not any(type(m).__name__ == "Conv1D" for m in model.modules())
    assert isinstance(model.get_output_embeddings(), Int8Linear)
    # The lookup keeps its own rows (bfloat16), not the head's int8 ones.
    torch.testing.assert_close(
        model.get_input_embeddings().weight.float(), embedding, atol=0.01, rtol=0.01
    )
    with torch.inference_mode():
        after = model(input_ids=ids).logits.float()
    assert after.shape == before.shape
    assert float((after - before).abs().max()) < 0.1 * float(before.abs().max())
    assert bool((after.argmax(-1) == before.argmax(-1)).float().mean() >= 0.8)


def test_the_int8_narrator_writes_and_streams(tiny_dir: Path) -> None:
    gen = load_generator(str(tiny_dir), device="cpu", quantize="int8", warm_up=True, threads=1)
    assert gen.quantized and gen.dtype == "int8"
    assert any(isinstance(m, Int8Linear) for m in gen.model.modules())
    pieces: list[str] = []
    narration = gen.generate(PUSH, on_text=pieces.append)
    assert narration.text and not narration.fallback and "".join(pieces)
    # The prompt cache is kept and reused by a second request of the same beginning.
    again = gen.generate(PUSH, on_text=lambda _piece: None)
    assert again.timings.reused_tokens > 0
    # Unstreamed: several candidates ranked in one batch.
    ranked = gen.generate(PUSH)
    assert len(ranked.candidates) > 1


def test_true_is_int8_and_an_unknown_choice_is_refused(tiny_dir: Path) -> None:
    assert load_generator(str(tiny_dir), "cpu", quantize=True, warm_up=False).dtype == "int8"
    with pytest.raises(GeneratorError, match="quantize"):
        load_generator(str(tiny_dir), "cpu", quantize="int2", warm_up=False)


def test_auto_keeps_a_dtype_the_player_named(tiny_dir: Path) -> None:
    gen = load_generator(str(tiny_dir), "cpu", dtype="float32", quantize="auto", warm_up=False)
    assert not gen.quantized and gen.dtype == "float32"


def test_auto_takes_int8_when_it_is_faster_and_costs_nothing(
    tiny_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(int8_weights, "kernel_speedup", lambda *_args: 2.0)
    monkeypatch.setattr(int8_weights, "MAX_LOSS_RISE", float("inf"))
    gen = load_generator(str(tiny_dir), "cpu", quantize="auto", warm_up=False)
    assert gen.quantized and gen.dtype == "int8"


def test_auto_keeps_the_float_weights_when_int8_is_slower(
    tiny_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(int8_weights, "kernel_speedup", lambda *_args: 0.9)
    gen = load_generator(str(tiny_dir), "cpu", quantize="auto", warm_up=False)
    assert not gen.quantized and gen.dtype in ("float32", "bfloat16")
    assert not any(isinstance(m, Int8Linear) for m in gen.model.modules())


def test_auto_puts_the_float_model_back_when_int8_costs_too_much(tiny_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32).eval()
    reference = copy.deepcopy(model)
    ids = list(range(5, 60))
    original = int8_weights.MAX_LOSS_RISE
    int8_weights.kernel_speedup, saved = (lambda *_args: 2.0), int8_weights.kernel_speedup
    int8_weights.MAX_LOSS_RISE = -1.0  # any rise at all is too much
    try:
        why = int8_weights.choose_int8(model, ids, torch.float32)
    finally:
        int8_weights.MAX_LOSS_RISE, int8_weights.kernel_speedup = original, saved
    assert "loss" in why
    assert not any(isinstance(m, Int8Linear) for m in model.modules())
    probe = torch.tensor([ids])
    with torch.inference_mode():
        torch.testing.assert_close(model(input_ids=probe).logits, reference(input_ids=probe).logits)


def test_the_setting_takes_the_named_choices_and_reads_old_files() -> None:
    for choice in QUANTIZE:
        assert Settings(quantize=choice).quantize == choice
    assert Settings().quantize == "auto"
    assert Settings.from_dict({"quantize": True}).quantize == "int8"
    assert Settings.from_dict({"quantize": False}).quantize == "off"
    with pytest.raises(SettingsError, match="quantize must be auto, off, int8, int4 or dynamic"):
        Settings(quantize="int2")
