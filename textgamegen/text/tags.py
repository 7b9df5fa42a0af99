"""The corpus's special tokens: one definition for the game, the prompts and training.

A corpus line, a prompt line and a generated line all have the form
``<|action|> text <|endoftext|>``. Pure Python, imported by ``training`` too.
"""

from __future__ import annotations

TAGS = ("action", "dialogue", "quest")
"""The narration kinds a line can carry."""

END = "<|endoftext|>"
"""End of a line; the tokenizer's eos (and pad) token."""


def tag_token(tag: str) -> str:
    """The special token that opens a line of the given kind, e.g. ``<|action|>``."""
    return f"<|{tag}|>"


TAG_TOKENS = tuple(tag_token(tag) for tag in TAGS)
SPECIAL_TOKENS = (END, *TAG_TOKENS)
"""Every token the fine-tune adds or re-purposes; their embedding rows are trained."""


def tagged_line(tag: str, text: str) -> str:
    """One corpus-style line: ``<|tag|> text <|endoftext|>``."""
    return f"{tag_token(tag)} {text} {END}"
