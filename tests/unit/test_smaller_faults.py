"""Smaller faults, engine side: the ones a new player hit in Lanternfall.

Each test fails on the engine before the fix it names.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from textgamegen.engine.game import Game
from textgamegen.engine.maps import draw_map, layout, place_room
from textgamegen.engine.world import World, WorldError, parse_world
from textgamegen.narration.template import TemplateGenerator
from textgamegen.play.script import run_script

WALKTHROUGH = Path(__file__).parents[1] / "functional" / "walkthrough.txt"


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


# -- the lamp room after the win ---------------------------------------------------------


def test_the_lamp_room_is_lit_after_the_win(shipped_world: World) -> None:
    game = Game.new(shipped_world, seed=0, autosave=False)
    before = game.step("look")  # the quay; the lamp room's request before it is lit:
    game.state.room = "lamp_room"
    cold = game.step("look").requests[0]
    assert "cold and dark" in cold.authored and before.requests
    game = Game.new(shipped_world, seed=0, autosave=False)
    report = run_script(WALKTHROUGH, game, TemplateGenerator())
    assert report.ok and game.won and game.room().key == "lamp_room"
    look = game.step("look")
    said = "\n".join(e.text for e in look.events) + "".join(r.authored for r in look.requests)
    assert "cold and dark" not in said and "burns" in said
    # Its prose is asked for again, not the cold room's text from the cache.
    (lit,) = look.requests
    assert lit.cache_key != cold.cache_key and lit.authored != cold.authored
    lantern = game.step("x great lantern").requests
    assert lantern and "It is cold" not in lantern[0].authored
    assert "It is cold" not in lantern[0].fallback


WHEN_WORLD = """
[world]
title = "T"
start = "hall"
[win]
flags = ["lit"]
[rooms.hall]
name = "Hall"
text = "A dark hall."
[rooms.hall.when]
{flag} = "A bright hall."
[items.match]
name = "match"
location = "hall"
[items.match.use]
text = "You strike it."
flag = "lit"
"""


def test_a_text_for_a_flag_no_use_sets_is_a_world_error() -> None:
    world = parse_world(WHEN_WORLD.format(flag="lit"))
    assert world.rooms["hall"].when == {"lit": "A bright hall."}
    with pytest.raises(WorldError, match=r"rooms\.hall\.when.*no item's use sets"):
        parse_world(WHEN_WORLD.format(flag="moonrise"))


# -- the map: up and down are not diagonals ----------------------------------------------


def test_map_draws_up_and_down_as_a_vertical_link_marked_up_and_down(
    shipped_world: World,
) -> None:
    game = at(shipped_world, "hall")
    game.step("up")  # the spiral stair, up from the hall
    lines = draw_map(shipped_world, game.state.places, game.state.room)
    stair = next(i for i, line in enumerate(lines) if "<Stair >" in line)
    hall = next(i for i, line in enumerate(lines) if "[Hall  ]" in line)
    assert hall == stair + 2, "the room up is drawn above, not on a diagonal"
    column = lines[stair].index("<Stair >")
    assert lines[hall].index("[Hall  ]") == column
    assert lines[stair + 1][column + 4] == "↕"
    assert "/" not in "".join(lines) and "\\" not in "".join(lines)
    assert text_of(game, "map").endswith("? a way not taken · ↕ up and down")


def test_up_leans_aside_where_the_room_has_a_way_north_and_is_still_marked() -> None:
    """Wonderland's hall has a way north and a way up: the north cell stays for the way
    north, the room up goes on the diagonal, and its link is still ``↕``, not ``/``."""
    from textgamegen.engine.world import load_world
    from textgamegen.engine.worlds import find_world

    world = load_world(find_world("wonderland"))
    hall = world.rooms["hall"]
    assert {"up", "north"} <= set(hall.exits)
    places = {"hall": (0, 0)}
    place_room(places, "hall", "up", hall.exits["up"].to, hall.exits)
    place_room(places, "hall", "north", hall.exits["north"].to, hall.exits)
    assert places[hall.exits["north"].to] == (0, -1)
    assert places[hall.exits["up"].to] == (1, -1)
    drawn = "\n".join(draw_map(world, places, "hall"))
    assert "↕" in drawn and "/" not in drawn, drawn


def test_map_of_the_boathouse_loft(shipped_world: World) -> None:
    game = Game.new(shipped_world, autosave=False)
    for command in ("e", "up"):
        game.step(command)
    drawn = "\n".join(draw_map(shipped_world, game.state.places, game.state.room))
    assert "↕" in drawn and "/" not in drawn and "\\" not in drawn, drawn


# -- x me --------------------------------------------------------------------------------


def test_x_me_lists_what_you_carry_with_articles(shipped_world: World) -> None:
    game = at(shipped_world, "quay", carrying=("lamp_oil", "wick", "charts"))
    said = text_of(game, "x me")
    carried = "a flask of lamp oil, a spool of wick and some sea charts"
    assert said.endswith(f"You are carrying {carried}.")


# -- the cliff's ring is scenery, and the rope is tied to it -----------------------------


@pytest.mark.parametrize("tie", ["tie rope to ring", "use rope on ring", "tie rope to iron ring"])
def test_lanternfall_is_won_tying_the_rope_to_the_rings_scenery(
    shipped_world: World, tmp_path: Path, tie: str
) -> None:
    """The ring and the boulder are the cliff path's scenery, not items: the rope is tied
    to the ring by name, and `climb down` goes down it."""
    script = WALKTHROUGH.read_text(encoding="utf-8")
    cliff = 'tie rope\n? output contains "iron ring"\ndown\n'
    assert cliff in script
    script = script.replace(
        cliff,
        f'x ring\n? output contains "iron"\nx boulder\n? output contains "boulder"\n'
        f'{tie}\n? output contains "iron ring"\nclimb down\n',
    )
    path = tmp_path / "walkthrough.txt"
    path.write_text(script, encoding="utf-8")
    game = Game.new(shipped_world, autosave=False)
    report = run_script(path, game, TemplateGenerator())
    assert report.ok and game.won


def test_the_rope_ties_to_the_cliffs_scenery_and_not_to_what_is_not_there(
    shipped_world: World,
) -> None:
    game = at(shipped_world, "cliff_path", carrying=("rope",))
    text = text_of(game, "tie rope to boulder")
    # The rope's use is the cliff's, so it takes there whichever scenery is named; a thing
    # the room does not hold is still not here.
    assert "You knot the rope" in text
    other = at(shipped_world, "cliff_path", carrying=("rope",))
    assert "You don't see any tree here." in text_of(other, "tie rope to tree")
