"""Cleanup of raw model output: tags, escapes, half sentences and quotes (AI Dungeon 2 #215)."""

from __future__ import annotations

import pytest

from textgamegen.text.cleanup import (
    clean_text,
    cut_at_tag,
    first_sentences,
    is_complete,
    past_sentences,
    trim_to_sentence,
)

CLEANUP_TABLE = [
    # (raw model output, what the player sees)
    ("The door creaks open. <|endoftext|> junk", "The door creaks open."),
    ("The door creaks open.<|action|> You take", "The door creaks open."),
    ("The door creaks open. It is dark<|endof", "The door creaks open."),
    ("The door creaks open. <|", "The door creaks open."),
    ("The door creaks open. It is dark and", "The door creaks open."),
    ('"Hello."', '"Hello."'),
    ('He said, "Hello." Then he', 'He said, "Hello."'),
    ("She whispers, 'Run!' and the", "She whispers, 'Run!'"),
    ('"Is it you?" asked the miller. "I', '"Is it you?" asked the miller.'),
    ("The miller says, \u201cWelcome.\u201d The", "The miller says, \u201cWelcome.\u201d"),
    (
        'The miller says, "Welcome, traveller. Sit down and',
        'The miller says, "Welcome, traveller."',
    ),
    ("Wait... what was that? A sound", "Wait... what was that?"),
    ("You meet Mr. Grey by the well. He", "You meet Mr. Grey by the well."),
    ("\x1b[31mThe lamp glows red.\x1b[0m", "The lamp glows red."),
    ("The lamp\x07 glows\x00 softly.", "The lamp glows softly."),
    ("The \x1b]0;pwned\x07lamp glows.", "The lamp glows."),
    ("The lamp   glows\n softly.", "The lamp glows softly."),
    ("The lamp glows.\n\nCHAPTER TWO. The end", "The lamp glows."),
    ("no sentence end here", "no sentence end here"),
    ("The lamp glows \ufffd\ufffd brightly.", "The lamp glows brightly."),
    # A parser's "Try again." after a free-form attempt invites a pointless retry.
    (
        "You try to fly, but the wind drops you. Try again.",
        "You try to fly, but the wind drops you.",
    ),
    ("The rope slips from the ring! Please try again.", "The rope slips from the ring!"),
    ("Nothing happens. Try it again later. <|endoftext|>", "Nothing happens."),
    ("Try again.", ""),
    # A character may still say it, and so may a sentence that is about something else.
    ('"Try again," says Ferrin.', '"Try again," says Ferrin.'),
    ('Ferrin shrugs. "Try again."', 'Ferrin shrugs. "Try again."'),
    ("You vow to try again tomorrow.", "You vow to try again tomorrow."),
    ('Ferrin shouts, "Try again.', 'Ferrin shouts, "Try again."'),
    ('"Ha!" Try again.', '"Ha!"'),
    ("<|endoftext|>", ""),
    ('"', ""),
    ("...", ""),
    ("   ", ""),
]


@pytest.mark.parametrize(("raw", "shown"), CLEANUP_TABLE)
def test_cleanup_table(raw: str, shown: str) -> None:
    assert clean_text(raw) == shown


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a <|action|> b", "a "), ("no tag", "no tag"), ("cut <|endo", "cut ")],
)
def test_cut_at_tag(text: str, expected: str) -> None:
    assert cut_at_tag(text) == expected


def test_trim_keeps_closing_quote_and_punctuation() -> None:
    # AI Dungeon 2 #215 chopped the closing quote off exactly this.
    assert trim_to_sentence('"Hello."') == '"Hello."'
    assert trim_to_sentence("It works!) Then") == "It works!)"


@pytest.mark.parametrize(
    ("text", "complete"),
    [("It ends.", True), ('"It ends."', True), ("It does not", False), ("", False)],
)
def test_is_complete(text: str, complete: bool) -> None:
    assert is_complete(text) is complete


@pytest.mark.parametrize(
    ("text", "first", "past"),
    [
        ("You breathe. The air is cold.", "You breathe.", True),
        ("You breathe. The", "You breathe.", True),
        ("You breathe.", "You breathe.", False),
        ("You breathe. ", "You breathe.", False),
        # Speech and its tag are one sentence; so is a title's full stop.
        ('"Go away!" she says. She leaves.', '"Go away!" she says.', True),
        ("Mr. Penrose nods. You nod back.", "Mr. Penrose nods.", True),
        ('You call out. "Hello?"', "You call out.", True),
        ("You wait", "You wait", False),
    ],
)
def test_a_line_is_held_to_its_first_sentences(text: str, first: str, past: bool) -> None:
    assert first_sentences(text, 1) == first
    assert past_sentences(text, 1) is past
    assert first_sentences(text, None) == text and not past_sentences(text, None)
    assert clean_text(text, 1) == clean_text(first)


def test_two_sentences_keep_two() -> None:
    text = "You knock. Nobody answers. The hall is still."
    assert first_sentences(text, 2) == "You knock. Nobody answers."
    assert clean_text(text, 2) == "You knock. Nobody answers."
    assert clean_text(text) == text
