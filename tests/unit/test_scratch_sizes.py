"""One table of scratch sizes and one tokenizer builder (issue 9): training's
``scratch:SIZE`` and the random test models build the same shape and tokenizer."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from textgamegen.models import scratch
from textgamegen.models.random_model import build_random_model
from training import modelsizes

LINES = [
    "<|action|> You push open the door and step into the hall. <|endoftext|>",
    '<|dialogue|> "Welcome, traveller," said the miller. <|endoftext|>',
] * 6


def test_training_uses_the_games_table_and_builder() -> None:
    assert modelsizes.SIZES is scratch.SIZES
    assert modelsizes.train_tokenizer is scratch.train_tokenizer
    assert modelsizes.parse_scratch("scratch:toy") is scratch.SIZES["toy"]


def test_tiny_names_the_installed_model_and_no_size() -> None:
    # One meaning of "tiny": the installed fallback model (a scratch:small GPT-2).
    assert "tiny" not in scratch.SIZES
    with pytest.raises(ValueError, match="called 'toy' now"):
        modelsizes.parse_scratch("scratch:tiny")


@pytest.mark.parametrize("shape", ["toy", "small"])
def test_a_random_model_has_the_shape_scratch_trains(shape: str, tmp_path: Path) -> None:
    from training.finetune import load_base

    random = build_random_model(tmp_path / "random", shape=shape, lines=LINES)
    trained, _ = load_base(
        f"scratch:{shape}", LINES, 300, tmp_path / "run", lambda _why: contextlib.nullcontext()
    )
    config = json.loads((random / "config.json").read_text(encoding="utf-8"))
    size = scratch.SIZES[shape]
    for key in ("n_layer", "n_embd", "n_head"):
        assert config[key] == getattr(trained.config, key) == getattr(size, key)


def test_both_tokenizers_treat_the_spaces_around_tags_alike(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    build_random_model(tmp_path / "random", lines=LINES)
    modelsizes.train_tokenizer(LINES, 300, 128, tmp_path / "scratch")
    for folder in ("random", "scratch"):
        tokenizer = AutoTokenizer.from_pretrained(tmp_path / folder)
        spaced = tokenizer("<|action|> The door. <|endoftext|>")["input_ids"]
        assert spaced == tokenizer("<|action|>The door.<|endoftext|>")["input_ids"], folder
        assert tokenizer.eos_token == tokenizer.pad_token == "<|endoftext|>"
