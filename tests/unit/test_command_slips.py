"""Typos are not attempts, people elsewhere are named, and "x me" looks at you.

A new player typed "tkae crate" and was narrated an attempt ("You try to tkae crate, but
the fish rolls around...") that cost a turn; "talk to tamsin" away from her answered
"You don't see any tamsin here."; "x me" answered "You don't see any me here."
"""

from __future__ import annotations

import pytest

from textgamegen.engine.game import Game
from textgamegen.engine.vocabulary import slip_distance
from textgamegen.engine.world import load_world
from textgamegen.engine.worlds import find_world, list_worlds


@pytest.fixture
def game() -> Game:
    game = Game.new(load_world(find_world("lanternfall")), seed=0, autosave=False)
    game.intro()
    return game


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("tkae crate", "take crate"),
        ("opne crate", "open crate"),
        ("takke crate", "take crate"),
        ("exmaine crate", "examine crate"),
    ],
)
def test_a_slip_of_a_known_verb_is_caught_without_a_turn(
    game: Game, typed: str, meant: str
) -> None:
    result = game.step(typed)
    assert [e.text for e in result.events] == [
        f"I don't know the word '{typed.split()[0]}'. Did you mean '{meant}'?"
    ]
    assert result.requests == [] and game.state.turn == 0


@pytest.mark.parametrize("command", ["wave at the fleet", "sing", "dance", "lick the crate"])
def test_real_words_stay_attempts(game: Game, command: str) -> None:
    result = game.step(command)
    assert result.requests and result.requests[0].attempt
    assert game.state.turn == 1


def test_people_elsewhere_and_yourself(game: Game) -> None:
    assert game.step("talk to tamsin").events[0].text == "Tamsin the baker is not here."
    assert game.step("x me").events[0].text.startswith("You look yourself over")
    assert game.step("x whale").events[0].text == "You don't see any whale here."
    assert game.state.turn == 0


@pytest.mark.parametrize(
    ("typed", "answer"),
    [
        ("xyzzy", "I don't know the word 'xyzzy'. Type 'help' for the verbs."),
        ("plugh the crate", "I don't know the word 'plugh'. Type 'help' for the verbs."),
        ("nrth", "I don't know the word 'nrth'. Did you mean 'north'?"),
        ("please tkae crate", "I don't know the word 'tkae'. Did you mean 'please take crate'?"),
        ("crtae", "I don't know the word 'crtae'. Did you mean 'crate'?"),
        ("crate", "What do you want to do with the crate? Type 'help' for the verbs."),
    ],
)
def test_an_unknown_word_is_no_attempt_and_takes_no_turn(
    game: Game, typed: str, answer: str
) -> None:
    result = game.step(typed)
    assert [e.text for e in result.events] == [answer]
    assert result.requests == [] and game.state.turn == 0
    assert answer not in game.story()


@pytest.mark.parametrize(
    "command",
    ["kneel on the steps", "knock on the wall", "please whistle", "i want to fly", "kneels"],
)
def test_english_verbs_stay_attempts(game: Game, command: str) -> None:
    result = game.step(command)
    assert result.requests and result.requests[0].attempt
    assert game.state.turn == 1


def test_every_worlds_attempts_are_tried_in_any_of_its_rooms() -> None:
    # An attempt a world answers in one room ("curtsey") is a real verb in all of them:
    # typed elsewhere it is narrated as an attempt, not refused as an unknown word.
    for info in list_worlds():
        world = load_world(info.path)
        game = Game.new(world, seed=0, autosave=False)
        for room in world.rooms.values():
            for phrase in room.attempts:
                result = game.step(phrase)
                refused = [e.text for e in result.events if "don't know the word" in e.text]
                assert not refused, (world.name, phrase, refused)


@pytest.mark.parametrize(
    ("typed", "word", "edits"),
    [
        ("tkae", "take", 1),  # two letters swapped
        ("takke", "take", 1),
        ("tak", "take", 1),
        ("tame", "take", 1),
        ("exmaine", "examine", 1),
        ("exmine", "examine", 1),
        ("xamnie", "examine", 2),  # a letter dropped and two swapped
        ("lantern", "examine", 3),  # past the limit of 2: reported as limit + 1
        ("xyzzy", "examine", 3),
    ],
)
def test_slip_distance(typed: str, word: str, edits: int) -> None:
    assert slip_distance(typed, word, limit=2) == edits
