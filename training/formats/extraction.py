"""What every format shares: the extracted examples, drop counts, quote tagging and text
filters (the game's own clean-up of generated text is ``textgamegen/text/cleanup.py``)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from textgamegen.text.cleanup import repair_prose
from training.config import CorpusConfig, Source
from training.sentences import split_sentences


@dataclass
class Example:
    """One corpus line before tagging into ``<|tag|> text <|endoftext|>``."""

    text: str
    tag: str
    line: int
    """First line of the text in its source file (1-based)."""
    facts: dict[str, str] | None = None
    """The facts line the text is conditioned on (None: a plain corpus line)."""
    story: tuple[str, ...] = ()
    """Story lines before it in the prompt."""
    command: str = ""
    """The player's command this text answers (transcripts)."""
    kind: str = ""
    """For a world's authored text, what the game uses it as (``WORLD_KINDS``); "" for
    text from elsewhere. ``stats.json`` counts distinct lines per kind."""


WORLD_KINDS = ("attempt", "description", "colour", "dialogue", "quest")
"""The kinds of in-domain text a world holds, as the narrator writes them in play."""


@dataclass
class Extraction:
    """What one file yielded."""

    examples: list[Example] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)
    """Pieces of text left out, by reason."""
    broken: list[str] = field(default_factory=list)
    """Malformed rows, as "FILE:LINE: what is wrong" (the first ``MAX_BROKEN_NAMED``)."""


MAX_BROKEN_NAMED = 20


_ASCII_QUOTES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2032": "'",
        "\u00a0": " ",
    }
)
# Opening speech: a double quote of any kind, a left single curly quote, or a straight
# single quote that opens a capitalised word (so "don't" and "the boys' camp" do not count).
_SPEECH = re.compile(r"[\"\u201c\u201d\u00ab\u00bb]|\u2018\w|(?:^|[\s(\u2014-])'[A-Z]")
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+")


def has_quoted_speech(text: str) -> bool:
    """True when the text carries quoted speech (double quotes or opening single quotes)."""
    return bool(_SPEECH.search(text))


def tidy(text: str, corpus: CorpusConfig) -> str:
    """One line of text: mojibake repaired and ``_italics_`` marks dropped (the game's own
    prose cleanup, so the model never learns what the player must not see), collapsed
    whitespace, and ASCII quotes if the config asks."""
    text = repair_prose(text)
    if corpus.ascii_quotes:
        text = text.translate(_ASCII_QUOTES)
    return _SPACES.sub(" ", text).strip()


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def rejection(text: str, min_words: int, max_words: int) -> str | None:
    """Why a text cannot be a corpus line, or None when it can."""
    if "\ufffd" in text:
        return "undecodable characters"
    if "<|" in text or "|>" in text:
        return "special-token text"
    if not re.search(r"[a-z]", text):
        return "no lower-case letters (heading or code)"
    words = word_count(text)
    if words < min_words:
        return "too short"
    if words > max_words:
        return "too long"
    return None


def chunk(text: str, max_words: int, splitter: str = "builtin") -> list[str]:
    """Cut a long text at sentence ends (found by ``splitter``) into pieces of at most
    ``max_words`` words."""
    if word_count(text) <= max_words:
        return [text]
    pieces: list[str] = []
    current: list[str] = []
    for sentence in split_sentences(text, splitter):
        if current and word_count(" ".join([*current, sentence])) > max_words:
            pieces.append(" ".join(current))
            current = []
        current.append(sentence)
    if current:
        pieces.append(" ".join(current))
    return pieces


def add_text(
    result: Extraction, text: str, line: int, tag: str, source: Source, corpus: CorpusConfig
) -> None:
    """Tidy, cut and filter one game text, adding what passes to ``result``."""
    min_words = source.min_words or corpus.min_words
    for piece in chunk(tidy(text, corpus), corpus.max_words, corpus.sentence_splitter):
        reason = rejection(piece, min_words, corpus.max_words)
        if reason:
            result.dropped[reason] += 1
        else:
            result.examples.append(Example(piece, tag, line))


def fixed_tag(source: Source, default: str = "quest") -> str:
    """The tag of every line of a non-novel source."""
    return default if source.tag == "auto" else source.tag
