"""The streamed line names only the things on screen (``narration.things``).

Blind reads on the held-out worlds: "You count the horseshoes as they fall into the oven."
in a smithy with no oven, "You leap over the edge of the rail." in a corridor with no
rail. The line the TUI shows is one streamed sample, so nothing ranked it down; now a
phrase that names nothing on screen is taken back before the player sees it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from pushed_model import pushed_generator

from textgamegen.engine.content import ContentKind, ContentRequest
from textgamegen.narration.things import ThingGuard, guarded

SMITHY = ContentRequest(
    ContentKind.ACTION,
    room="Curnow's Smithy",
    command="count the horseshoes",
    entities=("Jabez Curnow",),
    attempt=True,
    room_text="A low forge of black stone. Horseshoes hang in rows from a beam over the anvil.",
)
PIECES = ["You", " count", " the", " horse", "shoes", " by", " ov", "en", " anvil", "."]


def decode(ids: list[int]) -> str:
    return "".join(PIECES[token] for token in ids)


def guard_after(pieces: list[str], tries: int = 6) -> ThingGuard:
    guard = ThingGuard(SMITHY, "", decode, tries)
    for piece in pieces:
        guard.push(PIECES.index(piece))
    return guard


def test_a_phrase_is_held_until_something_closes_it() -> None:
    guard = guard_after(["You", " count", " the", " horse"])
    assert guard.check(finished=False) == (3, None)  # "the" shown, "horse..." waits
    guard.push(PIECES.index("shoes"))
    assert guard.check(finished=False) == (3, None)  # "horseshoes" may yet run on
    guard.push(PIECES.index(" by"))
    assert guard.check(finished=False) == (6, None)  # closed, and on screen
    assert guard.taken_back == []


def test_a_phrase_naming_nothing_on_screen_is_taken_back() -> None:
    guard = guard_after(["You", " count", " the", " ov", "en", "."])
    assert guard.check(finished=False) == (3, 3)
    assert decode(guard.ids) == "You count the"
    assert guard.taken_back == ["oven"]
    assert guard.barred_here() == [PIECES.index(" ov")]  # only where the phrase began
    guard.push(PIECES.index(" anvil"))
    assert guard.barred_here() == []
    assert guard.check(finished=True) == (4, None)  # the line's end closes the phrase


def test_a_whole_word_taken_back_is_barred_for_the_rest_of_the_line() -> None:
    guard = ThingGuard(SMITHY, "You count the", lambda ids: "".join([" oven", "."][i] for i in ids))
    guard.push(0)
    assert guard.check(finished=True) == (0, 0)
    guard.push(1)
    assert guard.barred_here() == [0]  # " oven" is barred later on too


def test_what_is_shown_stays_and_tries_run_out() -> None:
    guard = guard_after(["You", " count", " the", " ov", "en", "."], tries=0)
    assert guard.check(finished=True) == (6, None)  # no try left: the line keeps it
    guard = guard_after(["You", " count", " the", " ov", "en", "."])
    assert guard.check(finished=True, shown=6) == (6, None)  # the player has read it


def test_which_lines_are_guarded() -> None:
    assert guarded(SMITHY)
    room = ContentRequest(ContentKind.ROOM, subject="The Smithy", room="The Smithy")
    assert not guarded(room)  # no text of the world's: the narrator furnishes it
    assert guarded(replace(room, authored="A low forge of black stone."))  # colour
    assert not guarded(ContentRequest(ContentKind.DIALOGUE, speaker="Jabez Curnow"))


@pytest.fixture(scope="module")
def oven_loving(tmp_path_factory: pytest.TempPathFactory):
    """A tiny random Llama pushed to write " the oven" over and over."""
    return pushed_generator(Path(tmp_path_factory.mktemp("models")) / "tiny", " the oven")


def test_decoding_shows_no_thing_that_is_not_on_screen(oven_loving) -> None:
    sampling = oven_loving.sampling
    shown: list[str] = []
    try:
        guarded_line = oven_loving.generate(SMITHY, on_text=shown.append)
        oven_loving.sampling = replace(sampling, seen_things=False)
        unguarded = oven_loving.generate(SMITHY, on_text=lambda _: None)
    finally:
        oven_loving.sampling = sampling
    assert "oven" in unguarded.text  # unguarded, the pushed word is written
    assert "oven" not in "".join(shown), shown
    assert "oven" not in guarded_line.text and guarded_line.text.startswith("".join(shown))
    assert guarded_line.timings.taken_back >= 1
    # Where the room gives an oven, the line may name it.
    with_oven = replace(SMITHY, room_text=SMITHY.room_text + " The oven glows.")
    assert "oven" in oven_loving.generate(with_oven, on_text=lambda _: None).text
