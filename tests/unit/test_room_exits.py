"""The narrator never sends the player a way the room has no exit to.

Playing Wonderland, a room's line of colour read "Exit to the north, east, west..." in a
wood whose only ways out are south and east. A request about a room now carries its exits;
decoding bars the other compass points (whole words, even when the tokenizer splits them)
and the rerank marks a candidate that names one.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from pushed_model import pushed_generator

from textgamegen.config import SamplingSettings
from textgamegen.engine.content import ContentKind, ContentRequest
from textgamegen.engine.game import Game
from textgamegen.narration import rerank
from textgamegen.narration.generator import Candidate
from textgamegen.text.canon import barred_words, false_directions

ROOM = ContentRequest(
    ContentKind.ROOM,
    subject="Cold Wood",
    room="Cold Wood",
    command="look",
    entities=("Cold Wood",),
    seed=3,
    exits=("south", "east"),
)


def test_only_the_compass_points_that_are_not_exits_are_barred() -> None:
    # South and east are ways out; south-east is not one of them.
    assert barred_words(ROOM) == [
        "north",
        "west",
        "northeast",
        "northwest",
        "southeast",
        "southwest",
    ]
    # Not about a room's layout: nothing is barred.
    assert barred_words(replace(ROOM, exits=None)) == []
    # A room with no way out bars all eight.
    assert len(barred_words(replace(ROOM, exits=()))) == 8


def test_a_point_the_facts_name_stays_free() -> None:
    tower = replace(ROOM, subject="North Tower", entities=("North Tower",))
    assert "north" not in barred_words(tower)
    echoed = replace(ROOM, authored="The sea lies to the west.")
    assert "west" not in barred_words(echoed)


def test_false_directions_reads_words_not_letters() -> None:
    text = "Paths lead North-East and west; the beast in the northern trees is restless."
    assert false_directions(text, ROOM) == ["northeast", "west"]
    assert false_directions("A track runs south and east.", ROOM) == []
    assert false_directions("Exit to the north.", replace(ROOM, exits=None)) == []


def test_a_request_keeps_its_exits_through_a_save_and_a_server() -> None:
    assert ContentRequest.from_dict(ROOM.to_dict()) == ROOM
    plain = replace(ROOM, exits=None)
    assert ContentRequest.from_dict(plain.to_dict()).exits is None
    # A request written before exits existed reads as "no layout known".
    old = {key: value for key, value in ROOM.to_dict().items() if key != "exits"}
    assert ContentRequest.from_dict(old).exits is None


def test_the_engine_asks_for_a_room_with_its_exits(tiny_game: Game) -> None:
    result = tiny_game.step("look")
    room = tiny_game.world.rooms[tiny_game.state.room]
    (request,) = [r for r in result.requests if r.cache_key == f"room:{room.key}"]
    assert room.exits and request.exits == tuple(room.exits)
    # An action's narration is not about the layout.
    assert all(r.exits is None for r in tiny_game.step("jump").requests)


def test_the_rerank_puts_a_false_exit_below_a_true_one() -> None:
    from textgamegen.text.prompts import load_templates

    weights = load_templates().rerank  # the shipped weights
    sampling = SamplingSettings()
    wrong = rerank.score(
        Candidate("A path runs west from the Cold Wood.", mean_logprob=-0.5, tokens=9),
        ROOM,
        sampling,
        weights,
    )
    right = rerank.score(
        Candidate("A path runs east from the Cold Wood.", mean_logprob=-0.5, tokens=9),
        ROOM,
        sampling,
        weights,
    )
    assert wrong.scores["canon"] == 0.0 and right.scores["canon"] == 1.0
    assert rerank.rank([wrong, right])[0] is right


def test_barred_sequences_are_barred_only_after_their_first_pieces() -> None:
    import torch

    from textgamegen.narration.decode import barred_mask

    history = torch.tensor([[9, 1, 2], [9, 9, 2]])
    mask = barred_mask(history, [(5,), (1, 2, 3)], vocab=10)
    assert mask[0].nonzero().flatten().tolist() == [3, 5]
    assert mask[1].nonzero().flatten().tolist() == [5]  # "2" alone does not complete 1-2-3


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def west_loving(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    """A tiny random model pushed to write " west" over and over, whatever it is asked."""
    folder = Path(tmp_path_factory.mktemp("models")) / f"tiny-{request.param}"
    return pushed_generator(folder, " west", arch=request.param)


def test_decoding_never_writes_a_barred_direction(west_loving) -> None:
    free = west_loving.generate(replace(ROOM, exits=("west",)), on_text=lambda _: None)
    assert "west" in free.text.lower()  # the push works when west is a way out
    for exits in (("south", "east"), ()):
        narration = west_loving.generate(replace(ROOM, exits=exits), on_text=lambda _: None)
        assert "west" not in narration.text.lower(), narration.text
    # Not streamed: every candidate is decoded under the same bar.
    ranked = west_loving.generate(replace(ROOM, exits=("east",)))
    assert all("west" not in c.text.lower() for c in ranked.candidates), ranked.candidates
