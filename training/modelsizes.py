"""``--base scratch:SIZE``: the sizes and tokenizer are defined once, on the game's side,
in ``textgamegen.models.scratch`` (the random test models use the same table).

Sizes: toy (tests), small (fast CPU narration), base (better prose), and the gpt2 and
gpt2-medium shapes; see that module's table.
"""

from __future__ import annotations

from textgamegen.models.scratch import SIZES, ModelSize, size_named, train_tokenizer

__all__ = ["SIZES", "ModelSize", "parse_scratch", "train_tokenizer"]


def parse_scratch(base: str) -> ModelSize | None:
    """The size named by ``scratch:SIZE``, None for other bases.

    Raises:
        ValueError: an unknown size name.
    """
    if not base.startswith("scratch:"):
        return None
    try:
        return size_named(base.split(":", 1)[1])
    except ValueError as error:
        raise ValueError(f"--base {base}: {error}") from None
