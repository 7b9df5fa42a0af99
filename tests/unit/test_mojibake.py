"""Mojibake and Gutenberg italics never reach the player (issue 9, the colour line), and
the corpus no longer teaches them."""

from __future__ import annotations

import time

import pytest

from textgamegen.narration.stream import Streamer
from textgamegen.text.cleanup import clean_text
from textgamegen.text.mojibake import repair_mojibake

APOSTROPHE = "\u00e2\u20ac\u2122"  # "’" (E2 80 99) read as Windows-1252
OPEN, CLOSE = "\u00e2\u20ac\u0153", "\u00e2\u20ac\u009d"  # “ and ” (9D is no cp1252 char)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (f"It{APOSTROPHE}s cold by the quay.", "It’s cold by the quay."),
        (f"{OPEN}Mind the step,{CLOSE} says Ferrin.", "“Mind the step,” says Ferrin."),
        ("The caf\u00c3\u00a9 smells of tar.", "The café smells of tar."),
        ("It costs\u00c2\u00a0ten crowns.", "It costs ten crowns."),
        ("The wind \u00e2\u20ac howls.", "The wind howls."),  # a run cut short: dropped
        ("You don\u00e2t see a way \u00e2 across.", "You don’t see a way across."),
        ("A p\u00e2t\u00e9 sits on the shelf.", "A pâté sits on the shelf."),  # real text kept
        ("_The lamp_ flickers once.", "The lamp flickers once."),
        ("She said it was _very_ old.", "She said it was very old."),
    ],
)
def test_cleanup_repairs_mojibake_and_drops_italics_marks(raw: str, shown: str) -> None:
    assert clean_text(raw) == shown
    assert "\u00e2" not in clean_text(raw).replace("pâté", "") and "_" not in clean_text(raw)


def test_legitimate_accents_are_left_alone() -> None:
    text = "CAFÉ… the señor’s château, Æsir and façade."
    assert repair_mojibake(text) == text


def _stream(pieces: list[str]) -> tuple[list[str], str]:
    sent: list[str] = []
    streamer = Streamer(
        "", lambda ids: "".join(pieces[i] for i in ids), sent.append, time.perf_counter()
    )
    for index in range(len(pieces)):
        streamer.push(index)
    return sent, streamer.shown


def test_a_stream_never_shows_a_half_repaired_run() -> None:
    """A byte-level model writes "â", "€", "™" as three tokens: none of them is shown
    alone, and what is streamed is what the cleanup keeps."""
    pieces = [" It", "\u00e2", "\u20ac", "\u2122", "s", " _very_", " cold", ".", " <|endoftext|>"]
    sent, shown = _stream(pieces)
    assert shown.strip() == "It’s very cold."
    assert not any(char in "".join(sent) for char in "\u00e2\u20ac\u2122_")
    assert clean_text("".join(pieces)) == shown.strip()


def test_a_stray_lead_byte_in_a_stream_is_dropped_not_shown() -> None:
    sent, shown = _stream([" The", " door", " \u00e2", " opens", ".", "<|endoftext|>"])
    assert shown.strip() == "The door opens." and "\u00e2" not in "".join(sent)


def test_the_corpus_drops_italics_marks_and_repairs_mojibake() -> None:
    from training.config import CorpusConfig
    from training.formats.extraction import tidy

    corpus = CorpusConfig()
    assert (
        tidy(f"_Harbour Quay_ is quiet; it{APOSTROPHE}s late.", corpus)
        == "Harbour Quay is quiet; it's late."
    )
