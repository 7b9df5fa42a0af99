"""A new player's play, engine side: what they hit, and the verbs players of the genre expect.

Each test plays Lanternfall (or a small world built here) from a known state and checks
the text and the state; each one fails on the engine before the fix it names.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from textgamegen.engine.game import Game
from textgamegen.engine.maps import draw_map, layout
from textgamegen.engine.quests import already_happened
from textgamegen.engine.saves import SAVE_VERSION, read_save, save_game
from textgamegen.engine.world import QuestState, World, WorldError, load_world, parse_world
from textgamegen.engine.worlds import find_world

FIXTURES = Path(__file__).parent.parent / "fixtures"


def text_of(game: Game, command: str) -> str:
    result = game.step(command)
    return "\n".join([e.text for e in result.events] + [r.fallback for r in result.requests])


def at(world: World, room: str, *, carrying: tuple[str, ...] = (), visited=()) -> Game:
    game = Game.new(world, autosave=False)
    game.state.room = room
    game.state.visited |= {room, *visited}
    game.state.places = layout(world, game.state.visited)
    for key in carrying:
        game.state.locations[key] = "player"
    return game


# -- articles ------------------------------------------------------------------------


def test_room_and_inventory_lists_use_each_items_article(shipped_world: World) -> None:
    game = at(shipped_world, "lane")
    assert "You see a tinderbox and some sea charts here." in text_of(game, "n")
    game.step("take all")
    assert "You are carrying a tinderbox and some sea charts." in text_of(game, "i")


WORLD_WITH_ARTICLES = """
[world]
title = "Articles"
start = "hall"
[win]
room = "hall"
[rooms.hall]
name = "Hall"
[items.fan]
name = "Alice's fan"
article = "none"
location = "hall"
[items.scissors]
name = "scissors"
plural = true
location = "hall"
[items.hour]
name = "hourglass"
article = "an"
location = "hall"
"""


def test_world_can_give_an_article_or_mark_an_item_plural() -> None:
    game = Game.new(parse_world(WORLD_WITH_ARTICLES), autosave=False)
    assert "You see Alice's fan, some scissors and an hourglass here." in text_of(game, "look")


def test_a_bad_article_is_a_world_error_naming_the_item() -> None:
    bad = WORLD_WITH_ARTICLES.replace('article = "an"', 'article = "a n"')
    with pytest.raises(WorldError, match=r"\[items.hour\] article"):
        parse_world(bad, source="articles.toml")


# -- refused commands take no turn -----------------------------------------------------


@pytest.mark.parametrize(
    "command",
    ["down", "unlock trapdoor with iron key", "climb down", "go west", "take oak door"],
)
def test_refused_command_takes_no_turn(shipped_world: World, command: str) -> None:
    game = at(shipped_world, "yard", carrying=("iron_key",))
    game.state.turn = 13
    result = game.step(command)
    assert result.turn == 13 and game.turn == 13
    assert all(event.kind == "error" for event in result.events)


def test_a_move_that_works_still_takes_a_turn(shipped_world: World) -> None:
    game = at(shipped_world, "yard")
    game.state.turn = 13
    assert game.step("south").turn == 14


# -- look PHRASE ----------------------------------------------------------------------


def test_look_out_to_sea_says_plainly_nothing_like_it_is_here(shipped_world: World) -> None:
    game = at(shipped_world, "quay")
    out = text_of(game, "look out to sea")
    assert "nothing like 'sea' here" in out
    assert "any out to sea" not in out
    assert game.turn == 0


def test_look_at_scenery_the_room_names_describes_it(shipped_world: World) -> None:
    game = at(shipped_world, "seawall")
    out = text_of(game, "look out to sea")
    assert "sea wall curves out into the bay" in out


@pytest.mark.parametrize("command", ["look at crate", "look crate", "look in the crate", "x crate"])
def test_look_with_a_thing_examines_it(shipped_world: World, command: str) -> None:
    game = at(shipped_world, "quay")
    assert "salt-bleached crate" in text_of(game, command)


# -- natural verbs ----------------------------------------------------------------------


def lamp_ready(world: World) -> Game:
    game = at(world, "lamp_room", carrying=("tinderbox", "hand_lantern"))
    for key in ("lamp_oil", "wick", "lens"):
        game.state.locations[key] = "great_lantern"
    game.state.quests["remedy"] = "done"
    return game


@pytest.mark.parametrize(
    "command", ["light lantern", "light the great lantern", "light lantern with tinderbox"]
)
def test_light_lantern_lights_it(shipped_world: World, command: str) -> None:
    game = lamp_ready(shipped_world)
    result = game.step(command)
    assert "lantern_lit" in game.state.flags and result.won


def test_light_lantern_without_oil_says_what_it_needs(shipped_world: World) -> None:
    game = lamp_ready(shipped_world)
    game.state.locations["lamp_oil"] = "player"
    assert "needs oil" in text_of(game, "light lantern")
    assert "lantern_lit" not in game.state.flags


def test_light_is_a_verb_only_where_a_world_declares_it(tiny_world: World) -> None:
    game = Game.new(tiny_world, autosave=False)
    assert game.parser.parse("light lantern").action == "freeform"


@pytest.mark.parametrize(
    ("room", "coin", "command", "gets"),
    [
        ("bakery", "copper_coin", "buy bread", "bread"),
        ("bakery", "copper_coin", "buy a loaf from tamsin", "bread"),
        ("chandlery", "silver_coin", "buy oil", "lamp_oil"),
        ("chandlery", "silver_coin", "buy lamp oil with the silver coin", "lamp_oil"),
    ],
)
def test_buy_trades_the_right_coin(
    shipped_world: World, room: str, coin: str, command: str, gets: str
) -> None:
    game = at(shipped_world, room, carrying=(coin,))
    result = game.step(command)
    assert game.state.locations[gets] == "player"
    assert game.state.locations[coin] != "player"
    assert result.turn == 1


@pytest.mark.parametrize(
    ("room", "coin", "command", "says"),
    [
        ("bakery", "silver_coin", "buy bread", "wants a copper coin for the loaf of bread"),
        ("chandlery", "copper_coin", "buy oil", "wants a silver coin"),
        ("chandlery", "silver_coin", "buy wick", "Nobody here sells wick"),
        ("quay", "silver_coin", "buy bread", "no one here to buy from"),
    ],
)
def test_buy_refuses_without_the_right_coin_and_takes_no_turn(
    shipped_world: World, room: str, coin: str, command: str, says: str
) -> None:
    game = at(shipped_world, room, carrying=(coin,))
    out = text_of(game, command)
    assert says in out
    assert game.turn == 0 and game.state.locations[coin] == "player"


def test_climb_down_and_up_the_tied_rope(shipped_world: World) -> None:
    game = at(shipped_world, "cliff_path", carrying=("rope",))
    game.step("tie rope")
    game.step("climb down the rope")
    assert game.room().key == "tide_caves"
    game.step("climb up")
    assert game.room().key == "cliff_path"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("read notice", "STORM WARNING"),
        ("x notice", "papered with notices"),
        ("l", "Market Square"),
        ("i", "empty-handed"),
    ],
)
def test_short_verbs(shipped_world: World, command: str, expected: str) -> None:
    game = at(shipped_world, "square")
    assert expected in text_of(game, command)


def test_g_repeats_the_last_command(shipped_world: World) -> None:
    game = at(shipped_world, "quay")
    game.step("w")
    game.step("e")
    game.step("g")
    assert game.room().key == "boathouse", "g did 'e' again"
    assert game.turn == 3
    game.step("again")
    assert game.room().key == "boathouse" and game.turn == 3, "no way east: refused, no turn"
    assert game.parser.parse("again").action == "again"
    assert game.parser.parse("retry").action == "retry"
    assert "nothing to do again" in text_of(Game.new(shipped_world, autosave=False), "g")


# -- hint ---------------------------------------------------------------------------------


def test_hint_gets_plainer_each_time_and_takes_no_turn(shipped_world: World) -> None:
    game = at(shipped_world, "cottage", visited=("chapel",))
    game.step("talk to aldous")
    turn = game.turn
    hints = [text_of(game, "hint") for _ in range(4)]
    assert "A Remedy for the Keeper" in hints[0]
    assert "Mael" not in hints[0], "the first hint does not give the answer away"
    assert "Sister Mael" in hints[1]
    assert "Sister Mael (Chapel of the Drowned Bells) has the willow tincture" in hints[2]
    assert "loaf of bread" in hints[2]
    assert hints[3] == hints[2]
    assert game.turn == turn


def test_hint_follows_the_state(shipped_world: World) -> None:
    game = at(shipped_world, "cottage", carrying=("tincture",))
    game.step("talk to aldous")
    for _ in range(3):
        last = text_of(game, "hint")
    assert "Give the willow tincture to Keeper Aldous (Keeper's Cottage)" in last


def test_hint_with_no_quest_points_at_the_win(shipped_world: World) -> None:
    game = lamp_ready(shipped_world)
    game.state.locations["wick"] = "player"
    for _ in range(3):
        last = text_of(game, "hint")
    assert "Use the tinderbox on the great lantern" in last
    game.state.won = True
    assert "You have won" in text_of(game, "hint")


def test_hint_is_in_the_help(shipped_world: World) -> None:
    assert "hint:" in text_of(Game.new(shipped_world, autosave=False), "help")


# -- quests lead somewhere ---------------------------------------------------------------


def test_word_to_the_chandler_gets_the_wick_and_shows_the_next_step(shipped_world: World) -> None:
    game = at(shipped_world, "chapel")
    given = text_of(game, "talk to mael")
    assert game.state.quests["word_to_oswin"] == "active"
    assert "wick" in given, "the quest says what it is for"
    game.state.room = "chandlery"
    assert game.state.locations["wick"] == "oswin", "no wick without the chapel's word"
    out = text_of(game, "talk to oswin")
    assert game.state.quests["word_to_oswin"] == "done"
    assert game.state.locations["wick"] == "player"
    assert "Next: The great lantern needs that wick" in out


def test_a_next_step_that_has_already_happened_is_not_shown(shipped_world: World) -> None:
    """Bringing the bread finishes the quest in the turn Sister Mael hands over the
    tincture: "Next: Sister Mael gives you a willow tincture" would come after the fact."""
    game = at(shipped_world, "chapel", carrying=("bread",))
    game.state.quests["chapel_bread"] = QuestState.ACTIVE
    out = text_of(game, "give bread to sister mael")
    assert game.state.quests["chapel_bread"] == "done"
    assert "Sister Mael gives you the willow tincture." in out
    assert "Next:" not in out
    # What to do with the gift is still ahead; so is the trade while she holds it.
    assert not already_happened(game, "Aldous needs the willow tincture from Sister Mael.")
    game.state.locations["tincture"] = "mael"
    assert not already_happened(game, shipped_world.quests["chapel_bread"].next)


@pytest.mark.parametrize("world_name", ["lanternfall", "wonderland"])
def test_every_quest_has_hints_a_next_step_and_a_purpose(world_name: str) -> None:
    world = load_world(find_world(world_name))
    needed = {
        key for item in world.items.values() if item.use for key in (*item.use.needs, item.key)
    } | {exit_.key for room in world.rooms.values() for exit_ in room.exits.values()}
    for quest in world.quests.values():
        assert quest.hints and quest.next, quest.key
        purpose = (
            quest.key in world.win.quests
            or quest.reward in needed
            or quest.goal.target in needed
            or quest.reward in {npc.wants for npc in world.npcs.values()}
            or quest.goal.kind == "reach"
        )
        assert purpose, f"quest {quest.key} leads nowhere"


# -- the map ------------------------------------------------------------------------------


def test_map_draws_visited_rooms_and_their_exits(shipped_world: World) -> None:
    game = Game.new(shipped_world, autosave=False)
    first = text_of(game, "map")
    assert "<Quay  >" in first and "?" in first and "Square" not in first
    game.step("n")
    drawn = text_of(game, "map")
    assert "<Square>" in drawn and "[Quay  ]" in drawn
    lines = drawn.splitlines()
    square = next(i for i, line in enumerate(lines) if "<Square>" in line)
    column = lines[square].index("<Square>") + 4
    assert lines[square + 1][column] == "|", "north-south exit drawn between them"
    assert "[Quay  ]" in lines[square + 2]
    assert game.turn == 1, "map takes no turn"


def test_map_crops_around_the_player(shipped_world: World) -> None:
    game = at(shipped_world, "lamp_room", visited=tuple(shipped_world.rooms))
    lines = draw_map(shipped_world, game.state.places, "lamp_room", width=28, height=9)
    assert len(lines) <= 9 and all(len(line) <= 28 for line in lines)
    assert any("<Lamp  >" in line for line in lines)


def test_map_is_in_saves_and_comes_back_unchanged(shipped_world: World, tmp_path: Path) -> None:
    game = Game.new(shipped_world, saves_dir=tmp_path, autosave=False)
    for command in ("e", "up", "down", "w", "n", "e"):
        game.step(command)
    save_game(game, "mapped", tmp_path)
    data = json.loads((tmp_path / "mapped.json").read_text())
    assert data["version"] == SAVE_VERSION == 2
    assert data["game"]["state"]["map"]["net_loft"] == list(game.state.places["net_loft"])
    loaded = Game.load("mapped", tmp_path)
    assert loaded.state.places == game.state.places


def test_a_version_1_save_without_a_map_still_loads(shipped_world: World, tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    shutil.copy(FIXTURES / "saves" / "lanternfall-v1-no-map.json", old)
    raw = json.loads(old.read_text())
    assert raw["version"] == 1 and "map" not in raw["game"]["state"]
    assert read_save(old)["version"] == SAVE_VERSION
    game = Game.load(str(old), tmp_path)
    assert set(game.state.places) == game.state.visited
    assert "<Square>" in text_of(game, "map")


def test_a_broken_map_in_a_save_is_a_clear_error(shipped_world: World, tmp_path: Path) -> None:
    game = Game.new(shipped_world, saves_dir=tmp_path, autosave=False)
    save_game(game, "bad", tmp_path)
    path = tmp_path / "bad.json"
    data = json.loads(path.read_text())
    data["game"]["state"]["map"] = {"attic": [0, 0]}
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="map: 'attic'"):
        Game.load("bad", tmp_path)


# -- the narrator a world is written for ---------------------------------------------------


def test_world_names_its_narrator() -> None:
    assert load_world(find_world("wonderland")).narrator == "alice"
    assert load_world(find_world("lanternfall")).narrator == ""


# -- nouns of the room's own text ---------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "sentence"),
    [
        ("x window", "beneath a window of green glass"),
        ("look out of the window", "beneath a window of green glass"),
        ("look at plaques", "Salt-stained plaques on the walls"),
        ("x plaque", "Salt-stained plaques on the walls"),
        ("x sand tray", "Candles burn in a sand tray"),
        ("x chapel", "A narrow chapel of whitewashed stone."),
    ],
)
def test_a_noun_of_the_room_text_is_described_from_it(
    shipped_world: World, command: str, sentence: str
) -> None:
    # The chapel lists no scenery: its text's window and plaques answered "You don't see
    # any window here.", and "look out of the window" the room's own cached line.
    game = at(shipped_world, "chapel")
    result = game.step(command)
    assert not [e for e in result.events if e.kind == "error"]
    [request] = result.requests
    assert sentence in request.fallback
    assert request.fallback.endswith("catches your eye.")
    assert request.cache_key and request.cache_key.startswith("scenery:chapel:")
    assert request.room_text.startswith("A narrow chapel")


def test_each_noun_of_the_room_text_has_its_own_cached_text(shipped_world: World) -> None:
    game = at(shipped_world, "chapel")
    [window] = game.step("x window").requests
    game.fulfil(window, "The green glass turns the light to seawater.")
    [plaques] = game.step("x plaques").requests
    assert plaques.cache_key != window.cache_key
    again = game.step("look out of the window")
    assert again.requests == []
    assert [e.text for e in again.events] == ["The green glass turns the light to seawater."]


def test_look_at_scenery_with_the_template_prints_its_text(shipped_world: World) -> None:
    from textgamegen.narration.template import TemplateGenerator

    game = at(shipped_world, "chapel")
    [request] = game.step("look candles").requests
    assert TemplateGenerator().text_for(request).startswith("Candles burn in a sand tray")


@pytest.mark.parametrize("command", ["x whale", "look at the whale", "x with", "x beneath"])
def test_what_the_room_text_does_not_name_is_still_refused(
    shipped_world: World, command: str
) -> None:
    game = at(shipped_world, "chapel")
    result = game.step(command)
    assert result.requests == [] and game.turn == 0
    assert [e.kind for e in result.events] == ["error"]


# -- a way the player holds the means to open ----------------------------------------------


def test_climb_down_with_the_rope_in_hand_says_to_tie_it(shipped_world: World) -> None:
    game = at(shipped_world, "cliff_path")
    assert "You would need a rope" in text_of(game, "climb down")
    game.state.locations["rope"] = "player"
    out = text_of(game, "climb down")
    assert "Tie the rope to the iron ring first" in out and "would need a rope" not in out
    game.step("tie rope to ring")
    assert game.step("climb down").events[0].text == "Tide Caves"


def test_a_way_without_its_own_ready_text_names_what_is_held(shipped_world: World) -> None:
    import copy
    from dataclasses import replace

    world = copy.deepcopy(shipped_world)
    rope = world.items["rope"]
    assert rope.use is not None
    rope.use = replace(rope.use, ready="")
    game = at(world, "cliff_path", carrying=("rope",))
    out = text_of(game, "climb down")
    assert out.endswith("You have the coil of rope, though: try using it here.")
