"""A tiny random Llama model directory for tests, shaped like SmolLM2 in miniature.

Like the real base, its tokenizer knows ``<|endoftext|>`` but none of our tag tokens, so
the fine-tune (and the "base before fine-tuning" in evaluate) must add them and resize the
embeddings. Hidden size 32, 2 layers, 2 heads, tied embeddings; loads in a blink.
"""

from __future__ import annotations

from pathlib import Path

END = "<|endoftext|>"
TAGS = ("<|action|>", "<|dialogue|>", "<|quest|>")


def build_random_llama(
    path: Path | str,
    lines: list[str] | tuple[str, ...],
    *,
    with_tags: bool = False,
    context: int = 256,
    seed: int = 0,
) -> Path:
    """Write a random LlamaForCausalLM (safetensors) and a byte-level BPE tokenizer.

    Args:
        path: the directory to create.
        lines: text the tokenizer is trained on.
        with_tags: give the tokenizer our tag tokens too (the base does not have them).
        context: max_position_embeddings.
        seed: torch seed for the weights.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    special = [END, *(TAGS if with_tags else ())]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=500,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(list(lines), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token=END,
        eos_token=END,
        unk_token=END,
        pad_token=END,
        model_max_length=context,
    )
    tokenizer.save_pretrained(path)
    end_id = tokenizer.convert_tokens_to_ids(END)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=context,
        tie_word_embeddings=True,
        bos_token_id=end_id,
        eos_token_id=end_id,
        pad_token_id=end_id,
    )
    torch.manual_seed(seed)
    LlamaForCausalLM(config).eval().save_pretrained(path)
    return path
