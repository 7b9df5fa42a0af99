"""Issue 21, section 7, engine side: the smaller faults a new player hit in Lanternfall.

Each test fails on the engine before the fix it names.
"""

from __future__ import annotations

import pytest

from textgamegen.engine.game import Game
from textgamegen.engine.maps import layout
from textgamegen.engine.world import World


def text_of(game: Game, command: str) -> str:
    result = game.step(command)
    return "\n".join([e.text for e in result.events] + [r.fallback for r in result.requests])


def at(world: World, room: str, *, carrying: tuple[str, ...] = ()) -> Game:
    game = Game.new(world, autosave=False)
    game.state.room = room
    game.state.visited.add(room)
    game.state.places = layout(world, game.state.visited)
    for key in carrying:
        game.state.locations[key] = "player"
    return game


# -- put oil in lantern ------------------------------------------------------------------


@pytest.mark.parametrize("hand_lantern", ["player", "lamp_room"])
def test_put_in_lantern_means_the_lantern_that_holds_things(
    shipped_world: World, hand_lantern: str
) -> None:
    """The hand lantern is no container, so "lantern" after "in" is the great one,
    whether the hand lantern is carried or stands beside it."""
    game = at(shipped_world, "lamp_room", carrying=("lamp_oil", "wick"))
    game.state.locations["hand_lantern"] = hand_lantern
    said = text_of(game, "put oil in lantern")
    assert "Which do you mean" not in said
    assert said == "You put the flask of lamp oil in the great lantern."
    assert game.state.locations["lamp_oil"] == "great_lantern" and game.turn == 1
    assert text_of(game, "put wick in the lamp").endswith("in the great lantern.")


def test_put_lantern_in_lantern_puts_the_one_held_in_the_one_that_holds(
    shipped_world: World,
) -> None:
    game = at(shipped_world, "lamp_room", carrying=("lamp_oil", "hand_lantern"))
    # Two things named "lantern" to put: the carried one is the one that can be put.
    said = text_of(game, "put lantern in lantern")
    assert "Which do you mean" not in said and "folding" not in said
    assert game.state.locations["hand_lantern"] == "great_lantern"
