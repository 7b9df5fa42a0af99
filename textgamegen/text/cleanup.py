"""Turn raw model output into text fit to show: cut at tags, trim to a sentence, strip escapes.

GPT-2 keeps writing past the end of a thought and stops mid-word at ``max_new_tokens``,
and a model trained on tagged lines writes the next line's tag. The player should see
whole sentences only, with their closing quotes kept: AI Dungeon 2 issue #215 chopped the
closing quote off ``"Hello."``. Pure Python, cheap to import.
"""

from __future__ import annotations

import re

from textgamegen.safe_text import strip_unsafe
from textgamegen.text.mojibake import repair_mojibake

# Any special-token tag, complete or cut short at the end of the output.
_TAG = re.compile(r"<\|")
# Closing quotes and brackets that may follow the final punctuation of a sentence.
_CLOSERS = "\"'”’)]»"
_SENTENCE_END = re.compile(r"(?:[.!?…]+)[" + re.escape(_CLOSERS) + r"]*(?=\s|$)")
_SPACES = re.compile(r"\s+")
# A closing "Try again." is a parser's invitation, learnt from old games' messages (the
# Zork strings in the corpus hold "My circuits are getting rusty. Try again."), not story:
# the engine has already said what came of the action, and trying again changes nothing.
# Only a sentence of its own, in the narrator's voice: a character's "Try again," stays.
_TRY_AGAIN = re.compile(
    r"(?:^|(?<=[.!?…])\s+|(?<=[.!?…][" + re.escape(_CLOSERS) + r"])\s+)"
    r"(?:please\s+)?(?:do\s+)?try\s+(?:it\s+|that\s+)?again(?:\s+later)?\s*[.!…]+$",
    re.IGNORECASE,
)
# Abbreviations whose full stop does not end a sentence.
_ABBREVIATIONS = ("mr.", "mrs.", "ms.", "dr.", "st.", "mt.", "capt.", "lt.", "sgt.", "no.")


def repair_prose(text: str) -> str:
    """Mojibake repaired (``"â€™"`` -> ``"’"``, stray fragments dropped) and the
    underscores of Gutenberg's ``_italics_`` removed: both are learnt from old text and
    mean nothing on screen. Run before ``strip_unsafe``, which would eat the C1 bytes of
    a repairable run."""
    return repair_mojibake(text).replace("_", "")


def cut_at_tag(text: str) -> str:
    """Everything before the first ``<|...|>`` tag (``<|endoftext|>`` or a next line's tag)."""
    match = _TAG.search(text)
    return text[: match.start()] if match else text


def _ends_with_abbreviation(text: str, end: int) -> bool:
    head = text[:end].rsplit(None, 1)[-1].lower() if text[:end].strip() else ""
    return head in _ABBREVIATIONS


def _stops(text: str) -> list[int]:
    """Index just past each sentence-ending stop (its closing quotes included), less
    the full stops of abbreviations ("Mr.")."""
    stops = []
    for match in _SENTENCE_END.finditer(text):
        punct_end = match.start() + len(match.group().rstrip(_CLOSERS))
        if not _ends_with_abbreviation(text, punct_end):
            stops.append(match.end())
    return stops


def sentence_end(text: str) -> int:
    """Index just past the last complete sentence (its closing quotes included), or 0."""
    stops = _stops(text)
    return stops[-1] if stops else 0


def _sentence_ends(text: str) -> list[int]:
    """Where each sentence ends that another follows or the text ends with: a stop
    followed by a capital, an opening quote or a digit. '"Go away!" she says.' is one
    sentence, as a reader hears it."""
    ends = []
    for stop in _stops(text):
        rest = text[stop:].lstrip()
        if not rest or rest[0].isupper() or rest[0].isdigit() or rest[0] in "\"“‘'(":
            ends.append(stop)
    return ends


def first_sentences(text: str, count: int | None) -> str:
    """The text up to the end of its ``count``-th sentence (all of it when None or when
    it has no more)."""
    if count is None:
        return text
    ends = _sentence_ends(text)
    return text[: ends[count - 1]] if len(ends) >= count else text


def past_sentences(text: str, count: int | None) -> bool:
    """Whether the text holds ``count`` whole sentences and has begun another, so a
    writer held to ``count`` should stop."""
    if count is None:
        return False
    ends = _sentence_ends(text)
    return len(ends) >= count and any(char.isalnum() for char in text[ends[count - 1] :])


def trim_to_sentence(text: str) -> str:
    """Trim to the last complete sentence; text without one is returned unchanged."""
    end = sentence_end(text)
    return text[:end] if end else text


def _balance_quotes(text: str) -> str:
    # A trimmed speech may keep its opening quote and lose the closing one with the half
    # sentence after it; close it so the panel never shows a dangling quote.
    if text.count('"') % 2 == 1 and text.endswith(tuple(".!?…")):
        return text + '"'
    if text.count("“") > text.count("”") and text.endswith(tuple(".!?…")):
        return text + "”"
    return text


def clean_text(raw: str, sentences: int | None = None) -> str:
    """The full cleanup: tags, mojibake and italics marks, control characters and ANSI
    escapes, spaces, half sentences, a closing "Try again.".

    Args:
        raw: decoded model output (the opening included, if it is to be shown).
        sentences: keep at most this many sentences (None: all).

    Returns:
        Text safe for the terminal, ending at a complete sentence when it has one;
        ``""`` when nothing usable is left.
    """
    text = cut_at_tag(raw)
    # A blank line ends a paragraph: what follows is usually a new, unrelated passage.
    text = text.split("\n\n", 1)[0]
    # U+FFFD marks bytes that did not form a character; it is noise, not text.
    text = strip_unsafe(repair_prose(text), keep_newlines=False).replace("\ufffd", "")
    text = _SPACES.sub(" ", text).strip()
    text = first_sentences(text, sentences)
    text = trim_to_sentence(text).strip()
    text = _TRY_AGAIN.sub("", text).strip()
    text = _balance_quotes(text)
    # Text with no letters or digits (a lone quote, "...") is not narration.
    return text if any(char.isalnum() for char in text) else ""


def is_complete(text: str) -> bool:
    """Whether the text ends at the end of a sentence."""
    return bool(text) and sentence_end(text) == len(text.rstrip())
