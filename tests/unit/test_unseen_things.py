"""Things a line names that nothing on screen gives (``canon.unseen_things``): a made-up
room's contents, which no name guard sees; the rerank's ``grounded`` part ranks them down."""

from __future__ import annotations

import pytest

from textgamegen.config import SamplingSettings
from textgamegen.engine.content import ContentKind, ContentRequest
from textgamegen.narration import rerank
from textgamegen.narration.generator import Candidate
from textgamegen.text.canon import noun_phrases, phrases_of, unseen_things

BOILER_HOUSE = ContentRequest(
    ContentKind.ACTION,
    room="The Boiler House",
    command="crawl under the boilers",
    entities=("firebox", "coal barrow"),
    attempt=True,
    room_text="A brick shed full of heat. Two great boilers squat side by side.",
)


@pytest.mark.parametrize(
    ("line", "unseen"),
    [
        # Lines read blind on a held-out world, unedited.
        (
            "You try to crawl under the boilers, but the coal barrow will only lean out to "
            "one side, for it is too hot.",
            [],
        ),
        ("You try to pray, but the box is too dark.", ["box"]),
        ("You crouch by the boilers, and the heat of the firebox drives you back.", []),
        ("You press your palm to the wall; the brick is warm.", []),
        ("A swallow flutters over you.", ["swallow flutters"]),
        # Sensory detail names no thing of the room: a reader does not count it.
        ("You hum a tune, and the note hangs in the smoke and the heat.", []),
        ("You knock, and a creak answers from the wood.", []),
    ],
)
def test_unseen_things_are_what_nothing_on_screen_gives(line: str, unseen: list[str]) -> None:
    assert unseen_things(line, BOILER_HOUSE) == unseen


def test_noun_phrases_open_with_a_determiner() -> None:
    assert noun_phrases("The great bronze bell hangs from a black oak yoke.") == [
        "great bronze bell",
        "black oak yoke",
    ]
    assert noun_phrases("You sing.") == []
    # A possessive's owner and what it owns are two things: a made-up lid is seen.
    assert noun_phrases("You kick the brass tub's lid.") == ["brass tub", "lid"]
    assert unseen_things("You kick the coal barrow's lid.", BOILER_HOUSE) == ["lid"]


def test_a_phrase_still_being_written_is_not_closed() -> None:
    assert [p.closed for p in phrases_of("You kick the oven")] == [False]
    assert [p.closed for p in phrases_of("You kick the oven door.")] == [True]
    assert phrases_of("You kick the oven door.")[0].start == len("You kick the ")


def test_the_rerank_prefers_the_line_that_stays_in_the_room() -> None:
    weights = {"grounded": 1.5}
    made_up = Candidate("You try to pray, but the box is too dark.", -1.0, 10)
    in_room = Candidate("You kneel by the boilers, and the heat presses on you.", -1.0, 10)
    for candidate in (made_up, in_room):
        rerank.score(candidate, BOILER_HOUSE, SamplingSettings(), weights)
    assert made_up.scores["grounded"] == 0.0 and in_room.scores["grounded"] == 1.0
    assert rerank.rank([made_up, in_room])[0] is in_room
