"""Spelling in decoding: a row writes only words its speller knows (see ``text.lexicon``).

Each step, the tokens a row could be given next are read against the word it is in the
middle of: a token that would finish an unknown word ("budv" + "ain ") or begin one that no
known word begins with is barred for that row. Only the most likely tokens are read (the
sampler draws from the top 50 by default), so a step costs a few dozen look-ups per row,
not one per vocabulary entry.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import torch

from textgamegen.text.lexicon import Speller, trailing_word

# Read at least this many of a row's likeliest tokens each step: more than the sampler's
# default top_k (50), so every token it could draw has been read.
READ_WIDTH = 64
_SPACE_MARKS = str.maketrans({"\u0120": " ", "\u010a": "\n", "\u0109": "\t", "\u2581": " "})
_BYTE_TOKEN = re.compile(r"<0x[0-9A-Fa-f]{2}>")


def token_pieces(tokens: Sequence[str | None], specials: Sequence[int]) -> list[str]:
    """Each vocabulary entry's text as the speller reads it: byte-level BPE's space and
    newline marks as themselves, special tokens and byte tokens as a space (they end a
    word); any other character that is not a-z also ends a word, as it does in the text."""
    pieces = [
        " " if token is None or _BYTE_TOKEN.fullmatch(token) else token.translate(_SPACE_MARKS)
        for token in tokens
    ]
    for index in specials:
        if 0 <= index < len(pieces):
            pieces[index] = " "
    return pieces


class SpellingGuard:
    """The words each row of one ``run_rows`` call is in the middle of, and the mask that
    keeps every row to known words.

    Args:
        speller: what the line may spell.
        pieces: each token id's text (``token_pieces``).
        rows: how many rows are written side by side.
        opening: the text the rows continue (it may end inside a word).
        width: how many of a row's likeliest tokens are read each step (at least the
            sampler's top_k).
    """

    def __init__(
        self,
        speller: Speller,
        pieces: Sequence[str],
        rows: int,
        opening: str = "",
        width: int = READ_WIDTH,
    ) -> None:
        self.speller = speller
        self.pieces = pieces
        self.partial = [trailing_word(opening)] * rows
        self.width = width
        # Most pieces open with a break (" kick"): what such a piece allows depends only on
        # whether the open word is known and on the piece itself, so each is read once per
        # line, not once per row and step (a step read 64 pieces letter by letter: 1.1 ms
        # a token, profiled).
        self._after_break: dict[int, bool] = {}
        self._closes: dict[str, bool] = {}

    def _allows(self, row: int, token: int) -> bool:
        piece = self.pieces[token] if token < len(self.pieces) else " "
        partial = self.partial[row]
        if not piece or (piece[0].isascii() and piece[0].isalpha()):
            # The piece's letters join the open word first ("ick," after "k"): read whole.
            return self.speller.follow(partial, piece) is not None
        if partial:
            closes = self._closes.get(partial)
            if closes is None:
                closes = self._closes[partial] = self.speller.follow(partial, " ") is not None
            if not closes:
                return False
        allowed = self._after_break.get(token)
        if allowed is None:
            allowed = self._after_break[token] = self.speller.follow("", piece) is not None
        return allowed

    def _spelt(self, row: int, ids: list[int], values: list[float]) -> list[int]:
        """The first ``width`` of ``ids`` (most likely first) that the row may write."""
        good: list[int] = []
        for token, value in zip(ids, values, strict=True):
            if value != -math.inf and self._allows(row, token):
                good.append(token)
                if len(good) == self.width:
                    break
        return good

    def restrict(self, scores: torch.Tensor, live: torch.Tensor) -> torch.Tensor:
        """``scores`` with every live row held to its ``width`` likeliest tokens that spell
        known words. A row none of whose likeliest tokens spells a known word is read in
        full, and left as it was when nothing in the vocabulary does (a row is never
        trapped)."""
        rows, vocab = scores.shape
        keep = torch.zeros(rows, vocab, dtype=torch.bool, device=scores.device)
        values, indices = torch.topk(scores, min(self.width, vocab), dim=-1)
        top = zip(values.tolist(), indices.tolist(), strict=True)
        for row, (row_values, row_ids) in enumerate(top):
            if not bool(live[row]):
                keep[row] = True
                continue
            good = self._spelt(row, row_ids, row_values)
            if not good:
                order = torch.argsort(scores[row], descending=True)
                good = self._spelt(row, order.tolist(), scores[row][order].tolist())
            if good:
                keep[row, good] = True
            else:
                keep[row] = True
        return scores.masked_fill(~keep, -torch.inf)

    def advance(self, tokens: Sequence[int], going: Sequence[bool]) -> None:
        """Take each going row's new token into the word it is writing."""
        for row, (token, on) in enumerate(zip(tokens, going, strict=True)):
            if on:
                piece = self.pieces[token] if token < len(self.pieces) else " "
                self.partial[row] = self.speller.follow(self.partial[row], piece) or ""

    def restart(self, row: int, text: str) -> None:
        """The row goes on from ``text`` (it was taken back to there)."""
        self.partial[row] = trailing_word(text)
