"""The narrator names no one and nothing the facts do not give.

A blind read found model lines contradicting the game in more than one line in four:
"There are you?" said the Mock Turtle (a character from a training novel, in an abbey),
"Dark," said the abbot (for Sister Clare; there is no abbot), and people who are not in the
room. The engine now lists with each request the world's names its facts leave out;
decoding bars them, with the training books' cast and speech tags for another speaker, and
``canon.contradictions`` says what a line gets wrong.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from pushed_model import pushed_generator

from textgamegen.config import SamplingSettings
from textgamegen.engine.content import ContentKind, ContentRequest
from textgamegen.engine.game import Game
from textgamegen.engine.names import world_names
from textgamegen.engine.world import load_world
from textgamegen.engine.worlds import find_world
from textgamegen.narration import rerank
from textgamegen.narration.generator import Candidate
from textgamegen.text.canon import (
    Cast,
    CastError,
    Kind,
    barred_words,
    contradictions,
    load_cast,
)

CAST = Cast(frozenset({"Mowgli", "Alice", "Akela"}))


def lanternfall(*commands: str) -> tuple[Game, list[ContentRequest]]:
    game = Game.new(load_world(find_world("lanternfall")), seed=0, autosave=False)
    requests = list(game.intro().requests)
    for command in commands:
        requests = list(game.step(command).requests)
    return game, requests


def test_distinctive_names_only() -> None:
    names = world_names(load_world(find_world("lanternfall")))
    # "Keeper" is also an everyday word of the world ("the keeper's cottage"); "Aldous" is not.
    assert names.people["aldous"].forms() == ("Keeper Aldous", "Aldous")
    # One everyday word ("tinderbox") is free: every guarded thing has two words or more.
    assert all(len(name.full.split()) > 1 for name in names.things.values())
    assert "tinderbox" not in names.things
    assert names.things["brass_key"].full == "brass key"
    assert names.places["quay"].full == "Harbour Quay"


def test_a_request_lists_who_and_what_is_not_there() -> None:
    _, (room,) = lanternfall()
    assert room.room == "Harbour Quay"
    assert {"Tamsin", "Ferrin", "Aldous"} <= set(room.absent_people)
    # Places one step away are free; those further off are not.
    assert "Market Square" not in room.absent_things
    assert "Lamp Room" in room.absent_things
    _, requests = lanternfall("n", "e", "talk to tamsin")
    dialogue = next(r for r in requests if r.kind == ContentKind.DIALOGUE)
    assert "Tamsin" not in dialogue.absent_people and "Ferrin" in dialogue.absent_people
    # A name the world's own text gives is free: Tamsin's quest talk names Sister Mael.
    quest = next(r for r in requests if r.kind == ContentKind.QUEST)
    assert "Sister Mael" not in quest.absent_people
    # The request round-trips, names and all (saves, the model server).
    assert ContentRequest.from_dict(json.loads(json.dumps(quest.to_dict()))) == quest


def test_written_ahead_requests_carry_the_names_too() -> None:
    game, _ = lanternfall()
    from textgamegen.engine.descriptions import prefetch_requests

    ahead = {r.subject: r for r in prefetch_requests(game, limit=10)}
    assert "Tamsin" in ahead["Market Square"].absent_people
    # The square's own neighbours are free for the square's line.
    assert "Tamsin's Bakery" not in ahead["Market Square"].absent_things


@pytest.mark.parametrize(
    ("line", "kinds"),
    [
        ("Gulls wheel over the quay and the tide slaps the steps.", []),
        ("Ferrin waves from the boathouse door.", [Kind.ABSENT_PERSON]),
        ("You glimpse the great lantern through the mist.", [Kind.ABSENT_THING]),
        ("Mowgli watches you from the steps.", [Kind.FOREIGN_NAME]),
        ("A path runs south into the dark.", [Kind.FALSE_EXIT]),
        ("The Lamp Room glows far above.", [Kind.ABSENT_THING]),
    ],
)
def test_contradictions_of_a_room_line(line: str, kinds: list[str]) -> None:
    _, (room,) = lanternfall()
    assert [c.kind for c in contradictions(line, room, CAST)] == kinds


def test_the_wrong_speaker() -> None:
    _, requests = lanternfall("n", "e", "talk to tamsin")
    dialogue = next(r for r in requests if r.kind == ContentKind.DIALOGUE)
    right = [
        '"Flour everywhere," says Tamsin.',
        '"Bread?" she asks.',
        '"Go," said the baker.',
        # Weather and sound speak for nobody (a line of colour after the speech).
        "A lamp glows on the door, and the wind whispers through it like a sigh.",
        "The wind calls down the chimney, whispers the rain.",
    ]
    for line in right:
        assert contradictions(line, dialogue, CAST) == [], line
    for line, tag in [
        ('"Dark," said the abbot.', "said the abbot"),
        ('"There are you?" said the Mock Turtle.', "said the Mock Turtle"),
    ]:
        found = contradictions(line, dialogue, CAST)
        assert [str(c) for c in found if c.kind == Kind.WRONG_SPEAKER] == [
            f"wrong speaker: {tag}"
        ], found


def test_barred_words_cover_every_guard() -> None:
    _, requests = lanternfall("n", "e", "talk to tamsin")
    dialogue = next(r for r in requests if r.kind == ContentKind.DIALOGUE)
    barred = barred_words(dialogue, CAST)
    assert {"Ferrin", "Keeper Aldous", "Mowgli", "brass key"} <= set(barred)
    assert "Tamsin" not in barred
    # A cast name the world uses is the world's: free when in the facts.
    alice = replace(dialogue, entities=(*dialogue.entities, "Alice"))
    assert "Alice" not in barred_words(alice, CAST)
    # Another person here may be named, but not given the line.
    both = replace(dialogue, entities=("Tamsin the baker", "Ferrin the boatwright"))
    assert "says Ferrin" in barred_words(both, CAST)


def test_the_rerank_puts_a_contradiction_below() -> None:
    _, (room,) = lanternfall()
    weights = {"canon": 3.0}
    sampling = SamplingSettings()
    wrong = rerank.score(
        Candidate("Ferrin mends a net on the quay.", -1.0, 8), room, sampling, weights, cast=CAST
    )
    right = rerank.score(
        Candidate("Weed hangs from the quay in green ropes.", -1.5, 8),
        room,
        sampling,
        weights,
        cast=CAST,
    )
    assert wrong.scores["canon"] == 0.0 and right.scores["canon"] == 1.0


def test_cast_files(tmp_path: Path) -> None:
    assert load_cast(tmp_path) is None
    (tmp_path / "cast.json").write_text(CAST.to_json())
    assert load_cast(tmp_path) == CAST
    for broken in ("{", '{"version": 9, "names": []}', '{"version": 1, "names": ["lower"]}'):
        (tmp_path / "cast.json").write_text(broken)
        with pytest.raises(CastError, match=r"cast\.json"):
            load_cast(tmp_path)


def test_the_shipped_narrators_carry_their_cast() -> None:
    for name in ("narrator", "alice"):
        cast = load_cast(Path(__file__).resolve().parents[2] / "assets" / "models" / name)
        assert cast and "Alice" in cast.names


@pytest.fixture(scope="module")
def ferrin_loving(tmp_path_factory: pytest.TempPathFactory):
    """A tiny random Llama pushed to write " Ferrin" over and over."""
    return pushed_generator(Path(tmp_path_factory.mktemp("models")) / "tiny", " Ferrin")


def test_decoding_never_writes_an_absent_name(ferrin_loving) -> None:
    _, (room,) = lanternfall()
    here = replace(room, absent_people=(), entities=(*room.entities, "Ferrin"))
    assert "Ferrin" in ferrin_loving.generate(here, on_text=lambda _: None).text
    narration = ferrin_loving.generate(room, on_text=lambda _: None)
    assert "Ferrin" not in narration.text, narration.text
    ferrin_loving.cast = Cast(frozenset({"Ferrin"}))
    foreign = replace(room, absent_people=())
    try:
        ranked = ferrin_loving.generate(foreign)
    finally:
        ferrin_loving.cast = None
    assert all("Ferrin" not in c.text for c in ranked.candidates), ranked.candidates


def test_names_nobody_gave() -> None:
    _, (room,) = lanternfall()
    found = contradictions("The boatwright, Fredrick Coker, mends a net.", room, CAST)
    assert [str(c) for c in found] == ["unknown name: Fredrick", "unknown name: Coker"]
    # Sentence starts, "I" and names the facts give are not made up.
    given = replace(room, story=("Ferrin waved.",), absent_people=())
    assert contradictions('Gulls cry. "I see," you say, and Ferrin nods.', given, CAST) == []


def test_a_name_may_start_only_a_sentence() -> None:
    import torch

    from textgamegen.narration.decode import Barred

    barred = Barred.of([], mid_sentence=[7, 8], enders=frozenset({1}))
    mask = barred.mask(torch.tensor([[5, 1], [5, 4]]), vocab=10)
    assert mask[0].nonzero().flatten().tolist() == []  # after a full stop: free
    assert mask[1].nonzero().flatten().tolist() == [7, 8]


def test_decoding_makes_up_no_name(ferrin_loving) -> None:
    _, (room,) = lanternfall()
    # "Ferrin" here is not the world's: nothing lists it as absent, no cast holds it.
    unknown = replace(room, absent_people=(), authored="", story=())
    narration = ferrin_loving.generate(replace(unknown, seed=5), on_text=lambda _: None)
    # A line may open with a capital; inside it, no name nobody gave.
    assert narration.text and " Ferrin" not in narration.text, narration.text
    ferrin_loving.names_only = False
    try:
        free = ferrin_loving.generate(replace(unknown, seed=5), on_text=lambda _: None)
    finally:
        ferrin_loving.names_only = True
    assert " Ferrin" in free.text


def test_a_quest_ended_away_from_its_giver_is_not_spoken_by_them() -> None:
    from textgamegen.engine.quests import complete_quest
    from textgamegen.engine.turn import Turn

    game, _ = lanternfall()
    key = next(k for k, q in game.world.quests.items() if q.giver == "tamsin")
    assert game.world.npcs["tamsin"].location != game.state.room
    turn = Turn()
    complete_quest(game, turn, key)
    (done,) = turn.prose
    assert done.speaker == "" and done.kind == ContentKind.ACTION
    assert "Tamsin the baker" not in done.entities
    game.state.room = game.world.npcs["tamsin"].location
    turn = Turn()
    complete_quest(game, turn, key)
    assert turn.prose[0].speaker == "Tamsin the baker"


def test_peoples_names_keep_the_worlds_spelling() -> None:
    from textgamegen.text.canon import spell_names

    request = ContentRequest(
        ContentKind.ACTION,
        command="polish a spoon",
        room="The Dining Car",
        entities=("Teodoro Bassi", "silver spoon", "The Brass Band"),
        speaker="Mrs Penhale",
        attempt=True,
    )
    line = "Teodoro bassi nods to mrs penhale in the dining car; the brass band plays."
    # People's names are set right; a room's name, a thing and a name with an article,
    # which a sentence rightly writes in lower case, are left alone.
    assert spell_names(line, request) == (
        "Teodoro Bassi nods to Mrs Penhale in the dining car; the brass band plays."
    )


def test_an_attempt_may_not_say_it_opened_unlocked_or_broke_anything() -> None:
    from textgamegen.text.canon import Kind, barred_deeds, barred_words, contradictions

    request = ContentRequest(
        ContentKind.ACTION,
        command="push the glass door",
        room="The Observation Lounge",
        room_text="A door in the glass leads out onto the rear platform.",
        attempt=True,
    )
    assert {"open", "opened", "unlocked", "shatters"} <= set(barred_words(request))
    line = "You push the glass door open with your hand."
    assert [str(c) for c in contradictions(line, request)] == ["deed: open"]
    # What the facts say is so stays free: a door the room calls open, a command to open.
    ajar = replace(request, room_text="The door to the platform stands open.")
    assert "open" not in barred_deeds(ajar) and not contradictions(line, ajar)
    asked = replace(request, command="open the glass door")
    assert "open" not in barred_deeds(asked)
    # Only an attempt: a line for an action the engine carried out may say what it did.
    done = replace(request, attempt=False)
    assert not barred_deeds(done) and not [
        c for c in contradictions(line, done) if c.kind == Kind.DEED
    ]


def test_an_attempt_may_not_say_it_took_what_is_in_view() -> None:
    from textgamegen.text.canon import barred_takings, barred_words, contradictions

    lift = ContentRequest(
        ContentKind.ACTION,
        command="lift the jewel case",
        room="Compartment Three",
        entities=("Mrs Hartwell", "jewel case"),
        attempt=True,
    )
    assert {"take the case", "pick up the jewel case"} <= set(barred_words(lift))
    for line, taken in [
        ("You pick up the case and lift it from the berth.", "pick up the case"),
        ("You take the case with your hands.", "take the case"),
        ("You snatch the jewel case.", "snatch the jewel case"),
    ]:
        assert [str(c) for c in contradictions(line, lift)] == [f"deed: {taken}"]
    assert contradictions("You lift the jewel case an inch and set it down.", lift) == []
    assert contradictions("You take a deep breath.", lift) == []
    # Only an attempt: when the engine has taken a thing, the line may say so.
    assert barred_takings(replace(lift, attempt=False)) == []
