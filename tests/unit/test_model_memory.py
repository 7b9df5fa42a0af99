"""Models refused before loading when they cannot fit, and transformers' unseen load report
summarised (issue 11, models and prompts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from textgamegen.models import hf, memory
from textgamegen.models.load_report import explain
from textgamegen.models.loader import load_generator
from textgamegen.models.memory import fit_problem, parameter_count
from textgamegen.models.random_model import build_random_model
from textgamegen.narration.generator import GeneratorError


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_random_model(tmp_path_factory.mktemp("models") / "tiny", n_positions=128)


def copy_with_config(source: Path, target: Path, **changes: object) -> Path:
    target.mkdir()
    for path in source.iterdir():
        target.joinpath(path.name).write_bytes(path.read_bytes())
    config = json.loads((source / "config.json").read_text())
    config.update(changes)
    (target / "config.json").write_text(json.dumps(config))
    return target


def test_gpt2_estimate_is_the_real_parameter_count(tiny_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_dir))
    config = json.loads((tiny_dir / "config.json").read_text())
    assert parameter_count(config) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("tied", [True, False])
def test_llama_estimate_is_the_real_parameter_count(tied: bool) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=300,
        hidden_size=48,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=6,
        num_key_value_heads=2,
        tie_word_embeddings=tied,
    )
    model = LlamaForCausalLM(config)
    assert parameter_count(config.to_dict()) == sum(p.numel() for p in model.parameters())


def test_smollm2_135m_shape_is_about_135_million() -> None:
    config = {
        "num_hidden_layers": 30,
        "hidden_size": 576,
        "intermediate_size": 1536,
        "vocab_size": 49152,
        "num_attention_heads": 9,
        "num_key_value_heads": 3,
        "tie_word_embeddings": True,
    }
    count = parameter_count(config)
    assert count is not None and 134_000_000 < count < 135_000_000


def test_fit_problem_gives_the_figures() -> None:
    config = {"n_layer": 10000, "n_embd": 768, "vocab_size": 50257, "n_positions": 1024}
    problem = fit_problem(config, 4, available=16 * 10**9)
    assert "70.92 billion parameters" in problem and "283.7 GB" in problem
    assert "16.0 GB of memory is available" in problem
    assert fit_problem({"n_layer": 2, "n_embd": 32}, 4, available=16 * 10**9) == ""
    assert fit_problem({"model_type": "mystery"}, 4, available=1) == ""
    assert "n_layer must be a positive whole number" in fit_problem({"n_layer": -1}, 4)


def test_an_absurd_config_is_refused_at_once_with_the_figure(
    tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # n_layer 10000 at width 64 (the tiny size) is 2 GB: refused when only 100 MB is free.
    huge = copy_with_config(tiny_dir, tmp_path / "huge", n_layer=10000)
    monkeypatch.setattr(memory, "available_memory", lambda: 100 * 10**6)

    def never(*_args: object) -> None:
        raise AssertionError("the weights were read")

    monkeypatch.setattr(hf, "_load_parts", never)  # refused before any weight is read
    with pytest.raises(GeneratorError, match=r"huge: config.json describes about 0\.50 billion"):
        load_generator(str(huge), device="cpu", warm_up=False)


def test_mismatched_weights_are_summarised_not_pointed_at(tiny_dir: Path, tmp_path: Path) -> None:
    wide = copy_with_config(tiny_dir, tmp_path / "wide", n_embd=128)
    with pytest.raises(GeneratorError) as raised:
        load_generator(str(wide), device="cpu", warm_up=False)
    message = str(raised.value)
    assert "above report" not in message
    assert "mismatched shapes" in message
    shapes = "transformer.h.0.attn.c_attn.weight: checkpoint (64, 192) vs model (128, 384)"
    assert shapes in message


def test_an_empty_error_still_has_a_reason() -> None:
    assert explain(RuntimeError("")) == "RuntimeError"
    assert "no details" in explain(RuntimeError("Bad. For details look at the above report!"))
