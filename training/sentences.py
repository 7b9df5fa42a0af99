"""Splitting prose into sentences: the corpus config names the splitter.

``builtin``: an untrained Punkt tokenizer with a curated list of English abbreviations; it
needs no data, so a corpus is the same on every machine. ``punkt_tab``: NLTK's trained
English model, found through ``NLTK_DATA`` (CI points it at ``../shared/corpora/nltk_data``);
without that data the build stops and says so, rather than quietly splitting otherwise.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from training.textfile import CorpusError

# Abbreviations that end in a full stop but rarely end a sentence in fiction (lower case,
# without the final stop, as Punkt stores them).
ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "st",
        "jr",
        "sr",
        "prof",
        "rev",
        "capt",
        "col",
        "gen",
        "lt",
        "sgt",
        "cmdr",
        "maj",
        "hon",
        "messrs",
        "mme",
        "mlle",
        "vs",
        "etc",
        "viz",
        "cf",
        "ibid",
        "e.g",
        "i.e",
        "a.m",
        "p.m",
        "no",
        "vol",
        "ch",
        "fig",
        "esq",
        "co",
        "inc",
        "ltd",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
    ]
)


SPLITTERS = ("builtin", "punkt_tab")
"""The sentence splitters a corpus may name (``[corpus] sentence_splitter``)."""
PUNKT_TAB = "tokenizers/punkt_tab/english/"


class SplitterError(CorpusError):
    """The configured sentence splitter cannot run here; the message says what to do."""


def nltk_data_found() -> bool:
    """Whether NLTK's punkt_tab data is found here (through ``NLTK_DATA``), recorded in
    lineage beside the splitter the corpus used."""
    import nltk

    try:
        nltk.data.find(PUNKT_TAB)
    except LookupError:
        return False
    return True


@functools.lru_cache(maxsize=2)
def sentence_splitter(name: str = "builtin") -> Callable[[str], list[str]]:
    """The sentence splitter the corpus config names (cached).

    The choice is the config's, never the machine's: the same config must give the same
    corpus whether or not NLTK's data is installed (with punkt_tab found silently, 172 of
    the shipped narrator's 505 test lines fell in its own training split).

    Args:
        name: ``builtin`` (untrained Punkt with the abbreviation list above: no data
            needed, the same everywhere) or ``punkt_tab`` (NLTK's trained English model,
            which needs its data).

    Returns:
        A function from a paragraph to its sentences.

    Raises:
        SplitterError: an unknown name, or punkt_tab without its data.
    """
    if name == "punkt_tab":
        if not nltk_data_found():
            raise SplitterError(
                '[corpus] sentence_splitter = "punkt_tab" needs NLTK\'s punkt_tab data, '
                "which is not found here: set NLTK_DATA to a folder holding "
                'tokenizers/punkt_tab, or use sentence_splitter = "builtin" (a corpus '
                "built with the other splitter has other lines and other splits)"
            )
        from nltk.tokenize import sent_tokenize

        return functools.partial(sent_tokenize, language="english")
    if name != "builtin":
        raise SplitterError(
            f"unknown sentence splitter {name!r}; use one of {', '.join(SPLITTERS)}"
        )
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

    params = PunktParameters()
    params.abbrev_types = set(ABBREVIATIONS)
    return PunktSentenceTokenizer(params).tokenize


def split_sentences(paragraph: str, splitter: str = "builtin") -> list[str]:
    """Split one paragraph (a single line of text) into sentences.

    Args:
        paragraph: the text.
        splitter: ``builtin`` or ``punkt_tab`` (``sentence_splitter``).

    Punkt splits after a quoted question or exclamation ('"Who is there?" asked Tom.');
    a piece that starts in lower case is glued back onto the sentence before it.
    """
    sentences: list[str] = []
    for piece in sentence_splitter(splitter)(paragraph):
        piece = piece.strip()
        if not piece:
            continue
        if sentences and piece[0].islower():
            sentences[-1] = f"{sentences[-1]} {piece}"
        else:
            sentences.append(piece)
    return sentences
