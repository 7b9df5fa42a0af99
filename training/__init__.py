"""TextGameGen's training pipeline: corpus -> validate -> fine-tune -> evaluate -> gate -> register.

One module per stage (nanoGPT's layout): ``corpus`` builds the tagged corpus from the
sources in a TOML config, ``validate`` checks it, ``finetune`` trains a GPT-2 with the HF
Trainer, ``evaluate`` measures perplexity, latency and samples, ``gate`` and ``register``
decide whether the model reaches the models directory, and ``pipeline`` runs them all,
skipping stages whose inputs have not changed. ``cli`` is the command line.

Nothing here imports textual; torch and transformers are imported only by the stages that
train or evaluate, so ``--help`` and the corpus stage stay fast.
"""

TAGS = ("action", "dialogue", "quest")
"""The narration kinds a corpus line can carry, as in ``<|action|> text <|endoftext|>``."""

EOS = "<|endoftext|>"
"""End of a line; also the tokenizer's bos, unk and pad token."""


def tag_token(tag: str) -> str:
    """The special token that opens a line of the given kind, e.g. ``<|action|>``."""
    return f"<|{tag}|>"


SPECIAL_TAG_TOKENS = tuple(tag_token(t) for t in TAGS)
