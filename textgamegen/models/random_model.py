"""Build a randomly initialised GPT-2 or Llama model directory with the corpus's special tokens.

For tests (a tiny model that loads in a blink) and benchmarks (latency depends on the
shape, not the weights, so a random gpt2-medium shape stands in for a trained one). The
shapes and the byte-level BPE tokenizer (trained on a few lines) are those training's
``scratch:SIZE`` builds (``scratch``); the directory has the same layout training
registers. Imports torch, transformers and tokenizers inside the function.

Example::

    python -c "from textgamegen.models.random_model import build_random_model as b; \
b('/tmp/tiny', shape='toy')"
"""

from __future__ import annotations

import json
from pathlib import Path

from textgamegen.models.scratch import gpt2_config, size_named, train_tokenizer
from textgamegen.text.tags import END

SAMPLE_LINES = (
    "<|action|> You push open the door and step into the hall. <|endoftext|>",
    "<|action|> The brass lantern hangs from a hook, dented and old. <|endoftext|>",
    '<|dialogue|> "Welcome, traveller," said the miller. <|endoftext|>',
    "<|quest|> You must find the keeper before the light goes out. <|endoftext|>",
    "<|action|> A cold wind blows through the cracks in the wall. <|endoftext|>",
    '<|dialogue|> "I have not seen the key," she said quietly. <|endoftext|>',
)


def build_random_model(
    path: Path | str,
    shape: str = "toy",
    *,
    n_positions: int = 256,
    vocab_size: int = 0,
    lines: tuple[str, ...] | list[str] = SAMPLE_LINES,
    seed: int = 0,
    dtype: str = "float32",
    arch: str = "gpt2",
) -> Path:
    """Write a random GPT-2 (or Llama: ``arch="llama"``) model directory.

    Args:
        path: the directory to create (or overwrite).
        shape: a size of ``scratch.SIZES`` (the sizes ``scratch:SIZE`` trains): "toy",
            "small", "base", "gpt2" or "gpt2-medium".
        n_positions: the context window (whatever the size's own).
        vocab_size: the embedding rows; 0 = the tokenizer's size. A larger value gives a
            real GPT-2's LM-head cost (50257) with a tiny tokenizer.
        lines: text the BPE tokenizer is trained on.
        seed: torch seed for the weights.
        dtype: the saved weights' dtype ("float32" or "float16").
        arch: "gpt2" or "llama" (SmolLM2's architecture: RMSNorm, rotary positions,
            grouped-query attention, tied embeddings).

    Returns:
        The directory.
    """
    import torch
    from transformers import GPT2LMHeadModel
    from transformers.utils import logging

    logging.disable_progress_bar()

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    size = size_named(shape)
    tokenizer = train_tokenizer(lines, 400, n_positions, path)
    eos_id = tokenizer.convert_tokens_to_ids(END)
    torch.manual_seed(seed)
    if arch == "llama":
        from transformers import LlamaConfig, LlamaForCausalLM

        llama = LlamaConfig(
            vocab_size=max(vocab_size, len(tokenizer)),
            hidden_size=size.n_embd,
            intermediate_size=size.n_embd * 2,
            num_hidden_layers=size.n_layer,
            num_attention_heads=size.n_head,
            num_key_value_heads=max(1, size.n_head // 2),
            max_position_embeddings=n_positions,
            tie_word_embeddings=True,
            bos_token_id=eos_id,
            eos_token_id=eos_id,
            pad_token_id=eos_id,
        )
        model = LlamaForCausalLM(llama).to(getattr(torch, dtype)).eval()
    else:
        config = gpt2_config(size, tokenizer, vocab_size=vocab_size, n_positions=n_positions)
        model = GPT2LMHeadModel(config).to(getattr(torch, dtype)).eval()
    model.save_pretrained(path)
    metrics = {"perplexity": None, "note": f"random {shape} {arch}, not trained"}
    (path / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    lineage = {
        "name": path.name,
        "base": f"random:{shape}" if arch == "gpt2" else f"random:{arch}:{shape}",
        "corpus": "none",
    }
    (path / "lineage.json").write_text(json.dumps(lineage, indent=2) + "\n", encoding="utf-8")
    return path
