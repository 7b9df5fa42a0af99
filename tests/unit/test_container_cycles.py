"""Containers put into themselves (issue 25): refused with a clear message, directly or
through others, so items never vanish; a crafted save with such a loop is refused; and the
solvability check's verdict on movable containers holds against the engine, checked by
playing every state of a small world."""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path

import pytest

from textgamegen.engine.game import Game
from textgamegen.engine.saves import SaveError, save_game
from textgamegen.engine.solvability import check_world
from textgamegen.engine.state import GameState
from textgamegen.engine.world import PLAYER, World, parse_world

POCKETS = """
[world]
title = "Pockets"
start = "yard"

[win]
quests = ["toll"]

[rooms.yard]
name = "Yard"

[items.bag]
name = "bag"
location = "yard"
container = true

[items.pouch]
name = "pouch"
location = "yard"
container = true

[items.box]
name = "box"
location = "yard"
container = true

[items.coin]
name = "coin"
location = "pouch"

[npcs.keeper]
name = "Keeper"
location = "yard"

[quests.toll]
title = "The Toll"
giver = "keeper"
goal = { bring = "coin", to = "keeper" }
"""


BOX = """
[items.box]
name = "box"
location = "yard"
container = true
"""
assert BOX in POCKETS


@pytest.fixture
def pockets() -> World:
    return parse_world(POCKETS, source="pockets.toml", name="pockets")


def everything_somewhere(game: Game) -> bool:
    """Every item is reachable: in a room, with the player or a person, nowhere by design,
    or inside a container that itself is (no loop)."""
    return all(not game.inside(key, key) for key in game.world.items)


def test_a_container_put_into_itself_through_another_is_refused(pockets: World) -> None:
    game = Game.new(pockets, seed=1)
    for command in ("take bag", "take pouch", "put bag in pouch"):
        game.step(command)
    assert game.state.locations["bag"] == "pouch"
    result = game.step("put pouch in bag")
    assert [event.text for event in result.events] == [
        "The bag is inside the pouch; it can't go in there as well."
    ]
    assert game.state.locations["pouch"] == PLAYER and game.state.locations["bag"] == "pouch"
    # The coin is still there to be found, and so are both containers.
    assert everything_somewhere(game)
    assert "coin" in game.carried_items() and "bag" in game.carried_items()


def test_a_loop_through_three_containers_is_refused(pockets: World) -> None:
    game = Game.new(pockets, seed=1)
    for command in ("take all", "put box in bag", "put bag in pouch"):
        game.step(command)
    assert (game.state.locations["box"], game.state.locations["bag"]) == ("bag", "pouch")
    text = game.step("put pouch in box").events[0].text
    assert text == "The box is inside the pouch; it can't go in there as well."
    assert game.state.locations["pouch"] == PLAYER and everything_somewhere(game)
    assert game.step("put pouch in pouch").events[0].text == "That would take some folding."


def test_a_crafted_save_with_containers_inside_each_other_is_refused(
    pockets: World, tmp_path: Path
) -> None:
    game = Game.new(pockets, seed=1)
    path = save_game(game, "loop", tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["game"]["state"]["locations"].update(bag="pouch", pouch="bag")
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(SaveError, match=r"'loop'.*items bag, pouch are inside each other"):
        Game.load("loop", tmp_path, world=pockets, allow_path=False)


def _reachable_states(world: World) -> tuple[dict[str, GameState], dict[str, set[str]]]:
    """Every state the engine reaches from the start with the verbs that move things, and
    its moves (state -> next states), by breadth-first search."""
    game = Game.new(world, seed=1, autosave=False)
    items = list(world.items)
    commands = ["talk to keeper", "give coin to keeper", "take all", "drop all"]
    commands += [f"{verb} {item}" for verb in ("take", "drop", "open", "close") for item in items]
    commands += [f"put {a} in {b}" for a in items for b in items if a != b]

    def key(state: GameState) -> str:
        data = state.to_dict()
        for passing in ("turn", "story"):
            data.pop(passing)
        return json.dumps(data, sort_keys=True)

    start = game.state.copy()
    states = {key(start): start}
    moves: dict[str, set[str]] = {}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        here = key(state)
        moves[here] = set()
        for command in commands:
            game.state = state.copy()
            game.pending = None
            game.step(command)
            assert everything_somewhere(game), f"{command!r} hid something: {here}"
            after = key(game.state)
            moves[here].add(after)
            if after not in states:
                states[after] = game.state.copy()
                queue.append(game.state.copy())
    return states, moves


def test_every_state_of_nested_containers_can_still_be_won() -> None:
    # The check says this world can be won, and that holds however the player nests the
    # containers: from every state the engine can reach, a won state is still reachable.
    # Two containers (the bag and pouch) keep the search to a few hundred states.
    pockets = parse_world(POCKETS.replace(BOX, ""), source="pockets.toml", name="pockets")
    assert check_world(pockets).winnable and check_world(pockets).warnings == []
    states, moves = _reachable_states(pockets)
    assert len(states) > 50  # the containers really were nested in many ways
    winning = {key for key, state in states.items() if state.won}
    assert winning
    can_win = set(winning)
    changed = True
    while changed:
        changed = False
        for here, nexts in moves.items():
            if here not in can_win and nexts & can_win:
                can_win.add(here)
                changed = True
    stuck = set(states) - can_win
    assert not stuck, f"{len(stuck)} states can no longer be won, e.g. {sorted(stuck)[0]}"
