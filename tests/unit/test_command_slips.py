"""Typos are not attempts, people elsewhere are named, and "x me" looks at you.

A new player typed "tkae crate" and was narrated an attempt ("You try to tkae crate, but
the fish rolls around...") that cost a turn; "talk to tamsin" away from her answered
"You don't see any tamsin here."; "x me" answered "You don't see any me here."
"""

from __future__ import annotations

import pytest

from textgamegen.engine.game import Game
from textgamegen.engine.world import load_world
from textgamegen.engine.worlds import find_world


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
    assert game.step("x gull").events[0].text == "You don't see any gull here."
    assert game.state.turn == 0
