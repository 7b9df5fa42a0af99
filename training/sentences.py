"""Splitting prose into sentences: NLTK's punkt_tab model, else Punkt with known abbreviations.

NLTK finds ``tokenizers/punkt_tab/english`` through ``NLTK_DATA`` (CI points it at
``../shared/corpora/nltk_data``). Without that data, an untrained Punkt tokenizer with a
curated list of English abbreviations splits almost as well, and a warning says so once.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable

log = logging.getLogger(__name__)

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


class PunktFallbackWarning(UserWarning):
    """NLTK's punkt_tab data was not found; the built-in abbreviation list is used."""


@functools.lru_cache(maxsize=1)
def sentence_splitter() -> Callable[[str], list[str]]:
    """The best sentence splitter available here (cached).

    Returns:
        A function from a paragraph to its sentences.
    """
    try:
        import nltk
        from nltk.tokenize import sent_tokenize

        nltk.data.find("tokenizers/punkt_tab/english/")
        return functools.partial(sent_tokenize, language="english")
    except LookupError:
        from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

        message = (
            "NLTK punkt_tab data not found (set NLTK_DATA to a folder holding "
            "tokenizers/punkt_tab); splitting sentences with Punkt and a built-in "
            "list of English abbreviations instead"
        )
        warnings.warn(message, PunktFallbackWarning, stacklevel=2)
        log.warning(message)
        params = PunktParameters()
        params.abbrev_types = set(ABBREVIATIONS)
        return PunktSentenceTokenizer(params).tokenize


def split_sentences(paragraph: str) -> list[str]:
    """Split one paragraph (a single line of text) into sentences.

    Punkt splits after a quoted question or exclamation ('"Who is there?" asked Tom.');
    a piece that starts in lower case is glued back onto the sentence before it.
    """
    sentences: list[str] = []
    for piece in sentence_splitter()(paragraph):
        piece = piece.strip()
        if not piece:
            continue
        if sentences and piece[0].islower():
            sentences[-1] = f"{sentences[-1]} {piece}"
        else:
            sentences.append(piece)
    return sentences
