"""The narrator makes up no words.

Blind reads on the held-out worlds caught lines whose thing exists nowhere: "You polish a
silver budvain.", "You tap on a footpost with your fingers.", "You slip beneath the
firebarn's iron grate". A player looks for the budvain in vain. The narrator now writes
only the words of its training sources (``lexicon.json`` beside its weights) and the words
on screen, checked in decoding as each token is chosen.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from pushed_model import pushed_generator

from textgamegen.engine.content import ContentKind, ContentRequest
from textgamegen.narration.spelling import SpellingGuard, token_pieces
from textgamegen.text.lexicon import (
    LEXICON_FILE,
    Lexicon,
    LexiconError,
    load_lexicon,
    trailing_word,
    words_in,
)

MODELS = Path(__file__).resolve().parents[2] / "assets" / "models"
LEXICON = Lexicon.of(["you", "polish", "a", "silver", "spoon", "kettle", "foot", "post"])


def test_a_word_is_a_run_of_letters() -> None:
    assert words_in("Don't kick the horse-shoe, Jabez!") == [
        "don",
        "t",
        "kick",
        "the",
        "horse",
        "shoe",
        "jabez",
    ]
    assert trailing_word("You polish a Sil") == "Sil"
    assert trailing_word("You polish a ") == ""


@pytest.mark.parametrize(
    ("partial", "piece", "after"),
    [
        ("", " sil", "sil"),  # a known word's start
        ("sil", "ver", "silver"),
        ("silver", " sp", "sp"),  # "silver" ends, a new word starts
        ("spoon", ".", ""),
        ("foot", "post", None),  # "footpost" begins no known word
        ("", " budv", None),
        ("budv", " ", None),  # an unknown word ended
        ("kett", ".", None),  # "kett" is no word, only the start of one
        ("", "\n", ""),
        ("", " Silver", "Silver"),
        ("sil", "Ver", None),  # a capital inside a word
        ("SIL", "VER", "SILVER"),
    ],
)
def test_following_a_piece(partial: str, piece: str, after: str | None) -> None:
    assert LEXICON.with_text("").follow(partial, piece) == after


def test_the_words_on_screen_are_free() -> None:
    speller = LEXICON.with_text("The Kiddleywink | polish the kettle")
    assert speller.follow("", " Kiddleywink.") == ""
    unknown = speller.unknown("You polish a silver budvain in the Kiddleywink.")
    assert unknown == ["budvain", "in"]


def test_lexicon_files(tmp_path: Path) -> None:
    assert load_lexicon(tmp_path) is None
    (tmp_path / LEXICON_FILE).write_text(LEXICON.to_json())
    assert load_lexicon(tmp_path) == LEXICON
    for broken in (
        "{",
        '{"version": 9, "words": ["a"]}',
        '{"version": 1, "words": ["Two words"]}',
        '{"version": 1, "words": []}',
        '{"version": 1, "words": "abc"}',
    ):
        (tmp_path / LEXICON_FILE).write_text(broken)
        with pytest.raises(LexiconError, match=r"lexicon\.json"):
            load_lexicon(tmp_path)


def test_the_shipped_narrators_carry_their_lexicon() -> None:
    for name in ("narrator", "alice"):
        lexicon = load_lexicon(MODELS / name)
        assert lexicon and len(lexicon) > 2000
        assert lexicon.has_word("spoon") and not lexicon.has_word("budvain")


def test_a_row_never_trapped() -> None:
    import torch

    # Token 0 spells a known word, 1 an unknown one, 2 ends a word.
    pieces = [" spoon", " budvain", "."]
    guard = SpellingGuard(LEXICON.with_text(""), pieces, rows=2, width=2)
    scores = torch.tensor([[1.0, 5.0, 0.0], [1.0, 5.0, 0.0]])
    held = guard.restrict(scores, torch.tensor([True, False]))
    # Held to its two likeliest tokens that spell known words: " budvain" is out, and so
    # is "." (third likeliest, not read).
    assert held[0].tolist() == [1.0, -torch.inf, -torch.inf]
    assert held[1].tolist() == [1.0, 5.0, 0.0]  # a row that has ended is left alone
    guard.partial = ["kett", "kett"]  # inside a word that only " spoon" cannot finish...
    stuck = guard.restrict(torch.tensor([[1.0, 5.0, 0.0]] * 2), torch.tensor([True, True]))
    # ...nothing spells a known word: the row writes on rather than being trapped.
    assert stuck[0].tolist() == [1.0, 5.0, 0.0]


def test_the_guard_reads_a_piece_as_the_speller_does() -> None:
    # The guard reads what follows a piece's first break once per line; every answer must
    # still be the speller's own, for each word a row may be in and each kind of piece.
    speller = LEXICON.with_text("Jabez kicks the horse-shoe")
    pieces = [" spoon", " budvain", ".", ", a", "on", "post", " Kettle", "-shoe", " ", "\n"]
    pieces += ["ick,", " kettle.", "'s", " 42", "A", " sil"]
    partials = ["", "spo", "kett", "budv", "silver", "jabez", "Jab", "pos"]
    guard = SpellingGuard(speller, pieces, rows=1)
    for _ in range(2):  # the second time round, from what it has read
        for partial in partials:
            guard.partial = [partial]
            for token, piece in enumerate(pieces):
                expected = speller.follow(partial, piece) is not None
                assert guard._allows(0, token) is expected, (partial, piece)


def test_special_tokens_end_a_word() -> None:
    pieces = token_pieces(["\u0120kettle", "<|endoftext|>", "<0x41>", None], [1])
    assert pieces == [" kettle", " ", " ", " "]


@pytest.fixture(scope="module")
def budvain_loving(tmp_path_factory: pytest.TempPathFactory):
    """A tiny random Llama pushed to write " budvain" over and over."""
    return pushed_generator(Path(tmp_path_factory.mktemp("models")) / "tiny", " budvain")


def test_decoding_makes_up_no_word(budvain_loving) -> None:
    polish = ContentRequest(
        ContentKind.ACTION,
        room="The Dining Car",
        command="polish a spoon",
        entities=("Teodoro Bassi", "bill spike"),
        attempt=True,
    )
    free = budvain_loving.generate(polish, on_text=lambda _: None)
    assert "budvain" in free.text  # no lexicon: the pushed word is written
    budvain_loving.lexicon = load_lexicon(MODELS / "narrator")
    try:
        guarded = budvain_loving.generate(polish, on_text=lambda _: None)
        ranked = budvain_loving.generate(replace(polish, seed=3))
        sampling = budvain_loving.sampling
        budvain_loving.sampling = replace(sampling, known_words=False)
        unguarded = budvain_loving.generate(polish, on_text=lambda _: None)
        budvain_loving.sampling = sampling
    finally:
        budvain_loving.lexicon = None
    speller = budvain_loving_speller(polish)
    assert guarded.text and speller.unknown(guarded.text) == [], guarded.text
    assert all(speller.unknown(c.text) == [] for c in ranked.candidates), ranked.candidates
    assert "budvain" in unguarded.text  # the setting turns the guard off


def budvain_loving_speller(request: ContentRequest):
    lexicon = load_lexicon(MODELS / "narrator")
    assert lexicon is not None
    return lexicon.with_text(request.facts_text())


def test_a_kind_may_keep_to_the_most_common_words() -> None:
    lexicon = Lexicon.of(["the", "a", "you", "kneel", "in", "stone", "altar"])  # most common first
    assert lexicon.common(None) is lexicon and lexicon.common(0) is lexicon
    plain = lexicon.with_text("Ebenezer Chapel | kneel in the aisle", common=5)
    assert plain.unknown("You kneel in the aisle by the altar.") == ["by", "altar"]
    assert lexicon.with_text("", common=5).follow("", " alt") is None
    assert lexicon.with_text("").follow("", " alt") == "alt"
