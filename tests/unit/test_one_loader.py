"""One definition of model loading for the game, the fine-tune and evaluation (issue 9).

A bare pretrained base (SmolLM2 ends its lines with ``<|im_end|>`` and knows none of our
tags) must come out of the fine-tune's ``load_base`` exactly as the game reads it: the
same tags, ``<|endoftext|>`` as the end, the same embedding rows. Both go through
``hf.load_parts``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from textgamegen.models import hf
from textgamegen.text.tags import END, TAG_TOKENS

LINES = [
    "You push open the door and step into the hall.",
    "The brass lantern hangs from a hook, dented and old.",
    '"Welcome, traveller," said the miller.',
] * 4


@pytest.fixture(scope="module")
def bare_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama whose tokenizer ends lines with <|im_end|>, like SmolLM2."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("bare") / "base"
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        LINES,
        trainer=trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=[END, "<|im_end|>"],
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", unk_token=END)
    tokenizer.save_pretrained(path)
    torch.manual_seed(0)
    LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
            max_position_embeddings=128,
            tie_word_embeddings=True,
        )
    ).save_pretrained(path)
    return path


def _no_wait(_why: str):
    return contextlib.nullcontext()


def test_the_fine_tune_reads_a_bare_base_as_the_game_does(bare_base: Path) -> None:
    from textgamegen.models.loader import load_generator
    from training.finetune import load_base

    game = load_generator(str(bare_base), device="cpu", warm_up=False)
    model, tokenizer = load_base(str(bare_base), [], 0, bare_base.parent, _no_wait)
    for loaded in (game.tokenizer, tokenizer):
        assert loaded.eos_token == END and loaded.pad_token is not None
        assert set(TAG_TOKENS) <= set(loaded.get_vocab())
    assert tokenizer.get_vocab() == game.tokenizer.get_vocab()
    rows = model.get_input_embeddings().weight.shape[0]
    assert rows == game.model.get_input_embeddings().weight.shape[0] == len(tokenizer)
    assert model.config.eos_token_id == tokenizer.convert_tokens_to_ids(END)


def test_game_training_and_evaluation_share_load_parts(
    bare_base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textgamegen.models.loader import load_generator
    from training.evaluate import load_model
    from training.finetune import load_base

    calls: list[str] = []
    real = hf.load_parts

    def spy(name, path, dtype, hub_help="", adapter=None, four_bit=None):
        calls.append(str(path))
        return real(name, path, dtype, hub_help, adapter, four_bit)

    monkeypatch.setattr(hf, "load_parts", spy)
    load_generator(str(bare_base), device="cpu", warm_up=False)
    load_base(str(bare_base), [], 0, bare_base.parent, _no_wait)
    load_model(bare_base)
    assert len(calls) == 3 and {Path(call).resolve() for call in calls} == {bare_base.resolve()}


def test_the_fine_tune_refuses_a_pickle_only_base_with_the_games_reason(tmp_path: Path) -> None:
    from training.finetune import FinetuneError, load_base

    base = tmp_path / "pickled"
    base.mkdir()
    (base / "config.json").write_text("{}", encoding="utf-8")
    (base / "tokenizer.json").write_text("{}", encoding="utf-8")
    (base / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(FinetuneError, match=r"only pickle weights .*safetensors only"):
        load_base(str(base), [], 0, tmp_path, _no_wait)
