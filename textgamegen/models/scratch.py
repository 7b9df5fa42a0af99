"""Model sizes built from nothing and the byte-level BPE tokenizer made for them.

One definition for training's ``--base scratch:SIZE`` and for the random test and
benchmark models (``random_model``): the same name gives the same shape on both sides.
The smallest is ``toy``; ``tiny`` is the installed fallback model's name, and no size's.

============  ======  =====  =====  =======  ==========================================
size          layers  width  heads  context  use
============  ======  =====  =====  =======  ==========================================
toy           2       64     2      128      tests (trains in seconds)
small         4       256    4      256      fast CPU narration
base          6       384    6      256      better prose, ~2x the CPU cost
gpt2          12      768    12     1024     the hub's gpt2 shape (benchmarks)
gpt2-medium   24      1024   16     1024     the design's gpt2-medium shape (benchmarks)
============  ======  =====  =====  =======  ==========================================

Pure Python to import; the builders import tokenizers and transformers inside.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from textgamegen.text.tags import END, TAG_TOKENS


@dataclass(frozen=True)
class ModelSize:
    """A GPT-2 shape: layers, width, attention heads and context window."""

    n_layer: int
    n_embd: int
    n_head: int
    n_positions: int


SIZES = {
    "toy": ModelSize(n_layer=2, n_embd=64, n_head=2, n_positions=128),
    "small": ModelSize(n_layer=4, n_embd=256, n_head=4, n_positions=256),
    "base": ModelSize(n_layer=6, n_embd=384, n_head=6, n_positions=256),
    "gpt2": ModelSize(n_layer=12, n_embd=768, n_head=12, n_positions=1024),
    "gpt2-medium": ModelSize(n_layer=24, n_embd=1024, n_head=16, n_positions=1024),
}


def size_named(name: str) -> ModelSize:
    """The size of that name.

    Raises:
        ValueError: an unknown name, with the known ones.
    """
    if name == "tiny":
        raise ValueError(
            "the smallest size is called 'toy' now ('tiny' is the installed fallback model, "
            f"a scratch:small GPT-2); use one of {', '.join(SIZES)}"
        )
    if name not in SIZES:
        raise ValueError(f"unknown size {name!r}; use one of {', '.join(SIZES)}")
    return SIZES[name]


def train_tokenizer(lines: Iterable[str], vocab_size: int, context: int, out_dir: Path | None):
    """Train a byte-level BPE tokenizer on corpus lines, as an HF tokenizer with our tokens.

    The end-of-text token swallows the space before it and the tag tokens the space after
    them, so ``"<|action|> The door"`` and ``"<|action|>The door"`` tokenize alike and a
    sentence's final stop is followed directly by ``<|endoftext|>``.

    Args:
        lines: corpus lines (``<|tag|> text <|endoftext|>``).
        vocab_size: size of the vocabulary, special tokens included.
        context: the model's context length (the tokenizer's model_max_length).
        out_dir: where tokenizer.json and tokenizer_config.json are written (None: not saved).

    Returns:
        The HF fast tokenizer; ``<|endoftext|>`` is its bos, eos, unk and pad token.
    """
    from tokenizers import AddedToken, ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    specials = [AddedToken(END, lstrip=True, special=True)] + [
        AddedToken(token, rstrip=True, special=True) for token in TAG_TOKENS
    ]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        list(lines),
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=specials,
        show_progress=False,
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        bos_token=END,
        eos_token=END,
        unk_token=END,
        pad_token=END,
        additional_special_tokens=list(TAG_TOKENS),
        model_max_length=context,
    )
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        tokenizer.save_pretrained(out_dir)
    return tokenizer


def gpt2_config(size: ModelSize, tokenizer, *, vocab_size: int = 0, n_positions: int = 0):
    """The ``GPT2Config`` of a size for a tokenizer (its end token as bos, eos and pad).

    Args:
        size: the shape.
        tokenizer: the tokenizer the model reads.
        vocab_size: embedding rows, when more than the tokenizer's (0: the tokenizer's).
        n_positions: the context, when not the size's own (0: the size's).
    """
    from transformers import GPT2Config

    end = tokenizer.convert_tokens_to_ids(tokenizer.eos_token)
    return GPT2Config(
        vocab_size=max(vocab_size, len(tokenizer)),
        n_positions=n_positions or size.n_positions,
        n_embd=size.n_embd,
        n_layer=size.n_layer,
        n_head=size.n_head,
        bos_token_id=end,
        eos_token_id=end,
        pad_token_id=end,
    )
