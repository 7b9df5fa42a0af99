"""Turn the first candidate's tokens into safe text pieces as they come.

The streamed text must be a prefix of what cleanup would show: no tag, no half escape
sequence, no broken UTF-8 character, no half-repaired mojibake. Anything that may still
turn into one of those is held back until the next token settles it. Pure Python; the
tokenizer's ``decode`` is passed in.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from textgamegen.narration.generator import TextSink
from textgamegen.safe_text import strip_unsafe
from textgamegen.text.cleanup import first_sentences, past_sentences, repair_prose, sentence_end
from textgamegen.text.mojibake import unfinished_tail

_SPACES = re.compile(r"\s+")
# A tail that may yet become a tag: "<", "<|", "<|acti".
_PARTIAL_TAG = re.compile(r"<(?:\|[\w]*)?$")
# How far back an escape sequence may still be unfinished.
_ESCAPE_WINDOW = 32


class Streamer:
    """Feeds ``on_text`` with the new part of the first candidate after each token.

    Args:
        opening: the shown start of the text (sent at once by ``start``).
        decode: the tokenizer's decode for a list of ids.
        on_text: where the pieces go (may be None: the text is still tracked).
        started: ``time.perf_counter()`` at the start of the request.
        soft_limit: after this many tokens, stop at the first sentence end (0: never), so
            the streamed line is the one that stays rather than being trimmed later.
        sentences: the most sentences the line keeps (None: no limit); once the text
            has begun one more, the row stops and nothing of it is shown.
    """

    def __init__(
        self,
        opening: str,
        decode: Callable[[list[int]], str],
        on_text: TextSink | None,
        started: float,
        soft_limit: int = 0,
        sentences: int | None = None,
    ) -> None:
        self.soft_limit = soft_limit
        self.sentences = sentences
        self.opening = opening
        self.decode = decode
        self.on_text = on_text
        self.started = started
        self.ids: list[int] = []
        self.shown = ""
        self.first_token_ms = 0.0
        self.ended = False

    def _send(self, text: str) -> None:
        shown = strip_unsafe(repair_prose(text), keep_newlines=False).replace("\ufffd", "")
        # A space is shown with the word after it: a line that stops at a sentence's end
        # does not end in one.
        shown = _SPACES.sub(" ", shown).strip()
        if len(shown) > len(self.shown) and shown.startswith(self.shown):
            piece = shown[len(self.shown) :]
            self.shown = shown
            if self.on_text is not None:
                self.on_text(piece)

    def start(self) -> None:
        """Show the opening straight away: it is the start of every candidate."""
        if self.opening:
            self._send(self.opening)

    def push(self, token: int) -> bool:
        """Take row 0's next token; returns True when the text has reached a tag or a
        paragraph end, so the row should stop."""
        if not self.ids:
            self.first_token_ms = (time.perf_counter() - self.started) * 1000
        self.ids.append(token)
        raw = self.opening + self.decode(self.ids)
        stop = False
        for marker in ("<|", "\n\n"):
            at = raw.find(marker)
            if at >= 0:
                raw, stop = raw[:at], True
        if not stop:
            # Only from the last "<" can a tag be starting: the rest is not scanned again.
            at = raw.rfind("<")
            if at >= 0:
                raw = raw[:at] + _PARTIAL_TAG.sub("", raw[at:])
            raw = raw.rstrip("\ufffd")  # a UTF-8 character split across tokens
            escape = raw.rfind("\x1b", max(0, len(raw) - _ESCAPE_WINDOW))
            if escape >= 0:
                raw = raw[:escape]
            raw = raw[: unfinished_tail(raw)]  # "â€" may yet become "’"
        if past_sentences(raw, self.sentences):
            raw, stop = first_sentences(raw, self.sentences), True
        self._send(raw)
        if not stop and self.soft_limit and len(self.ids) >= self.soft_limit:
            tail = raw.rstrip()
            stop = bool(tail) and sentence_end(tail) == len(tail)
        self.ended = stop
        return stop


class Shown:
    """Passes streamed text on and remembers it, so a retry (on the CPU after CUDA ran out
    of memory, or against a model server again) does not show what is already on screen a
    second time. Shared by the local and the remote narrator."""

    def __init__(self, on_text: TextSink | None) -> None:
        self.on_text = on_text
        self.text = ""
        self.skip = ""

    def __call__(self, piece: str) -> None:
        if self.skip:
            if self.skip.startswith(piece):
                self.skip = self.skip[len(piece) :]
                return
            piece, self.skip = piece.removeprefix(self.skip), ""
        self.text += piece
        if self.on_text is not None and piece:
            self.on_text(piece)

    def again(self) -> Shown:
        self.skip = self.text
        return self

    def finish_with(self, text: str) -> None:
        """Show the rest of ``text`` when it continues what is on screen; otherwise the
        caller replaces the streamed text with the narration's."""
        if text.startswith(self.text):
            self.skip = ""
            self(text[len(self.text) :])
