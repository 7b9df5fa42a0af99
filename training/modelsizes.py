"""Named GPT-2 sizes for ``--base scratch:SIZE`` and the tokenizer built for them.

============  ======  =====  =====  =========  ==================================
size          layers  width  heads  context    use
============  ======  =====  =====  =========  ==================================
tiny          2       64     2      128        tests (trains in seconds)
small         4       256    4      256        fast CPU narration
base          6       384    6      256        better prose, ~2x the CPU cost
============  ======  =====  =====  =========  ==================================
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from training import EOS, SPECIAL_TAG_TOKENS


@dataclass(frozen=True)
class ModelSize:
    n_layer: int
    n_embd: int
    n_head: int
    n_positions: int


SIZES = {
    "tiny": ModelSize(n_layer=2, n_embd=64, n_head=2, n_positions=128),
    "small": ModelSize(n_layer=4, n_embd=256, n_head=4, n_positions=256),
    "base": ModelSize(n_layer=6, n_embd=384, n_head=6, n_positions=256),
}


def parse_scratch(base: str) -> ModelSize | None:
    """The size named by ``scratch:SIZE``, None for other bases.

    Raises:
        ValueError: an unknown size name.
    """
    if not base.startswith("scratch:"):
        return None
    name = base.split(":", 1)[1]
    if name not in SIZES:
        raise ValueError(f"--base {base}: unknown size {name!r}; use one of {', '.join(SIZES)}")
    return SIZES[name]


def train_tokenizer(lines: Iterable[str], vocab_size: int, context: int, out_dir: Path):
    """Train a byte-level BPE tokenizer on corpus lines and save it as an HF tokenizer.

    The end-of-text token swallows the space before it and the tag tokens the space after
    them, so ``"<|action|> The door"`` and ``"<|action|>The door"`` tokenize alike and a
    sentence's final stop is followed directly by ``<|endoftext|>``.

    Args:
        lines: corpus lines (``<|tag|> text <|endoftext|>``).
        vocab_size: size of the vocabulary, special tokens included.
        context: the model's context length (the tokenizer's model_max_length).
        out_dir: where tokenizer.json and tokenizer_config.json are written.

    Returns:
        The HF fast tokenizer.
    """
    from tokenizers import AddedToken, ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    specials = [AddedToken(EOS, lstrip=True, special=True)] + [
        AddedToken(t, rstrip=True, special=True) for t in SPECIAL_TAG_TOKENS]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(lines, vocab_size=vocab_size, min_frequency=2,
                            special_tokens=specials, show_progress=False)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer, bos_token=EOS, eos_token=EOS, unk_token=EOS,
        pad_token=EOS, additional_special_tokens=list(SPECIAL_TAG_TOKENS),
        model_max_length=context)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out_dir)
    return tokenizer


def add_special_tokens(tokenizer) -> int:
    """Give a pretrained tokenizer (e.g. GPT-2's) our pad and tag tokens.

    Returns:
        How many tokens were added (the embeddings must grow by as many).
    """
    from tokenizers import AddedToken

    added = tokenizer.add_special_tokens({
        "additional_special_tokens": [AddedToken(t, rstrip=True, special=True)
                                      for t in SPECIAL_TAG_TOKENS]})
    if tokenizer.eos_token is None:
        added += tokenizer.add_special_tokens({"eos_token": EOS})
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return added
