"""World files: the shipped world loads; each fault gives an error naming file, table and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from textgamegen.engine.world import WorldError, load_world, parse_world
from textgamegen.engine.worlds import DEFAULT_WORLD, find_world, list_worlds

GOOD = """
[world]
title = "Good"
start = "hall"

[win]
quests = ["fetch"]

[rooms.hall]
name = "Hall"
exits = { north = "yard", east = { to = "yard", locked = true, key = "key" } }

[rooms.yard]
name = "Yard"

[items.key]
name = "key"
location = "hall"

[items.box]
name = "box"
location = "yard"
container = true

[npcs.sage]
name = "Sage"
location = "hall"
wants = "key"

[quests.fetch]
title = "Fetch"
giver = "sage"
goal = { bring = "key" }
"""

# (what breaks, text to replace, replacement, expected "[table] key: problem" fragment)
FAULTS = [
    (
        "exit to a missing room",
        'north = "yard"',
        'north = "attic"',
        "[rooms.hall.exits] north: room 'attic' does not exist",
    ),
    (
        "locked exit with a missing key",
        'key = "key" }',
        'key = "skeleton" }',
        "[rooms.hall.exits.east] key: item 'skeleton' does not exist",
    ),
    (
        "a bad direction",
        'north = "yard"',
        'sideways = "yard"',
        "[rooms.hall.exits] sideways: not a direction",
    ),
    (
        "item in a missing room",
        'location = "hall"\n\n[items.box]',
        'location = "attic"\n\n[items.box]',
        "[items.key] location: 'attic' is not a room",
    ),
    (
        "item inside a non-container",
        'name = "key"\nlocation = "hall"',
        'name = "key"\nlocation = "sage"\n[items.coin]\nname = "coin"\nlocation = "key"',
        "[items.coin] location: item 'key' is not a container",
    ),
    (
        "NPC in a missing room",
        'name = "Sage"\nlocation = "hall"',
        'name = "Sage"\nlocation = "moon"',
        "[npcs.sage] location: room 'moon' does not exist",
    ),
    (
        "NPC wants a missing item",
        'wants = "key"',
        'wants = "pie"',
        "[npcs.sage] wants: item 'pie' does not exist",
    ),
    (
        "quest giver missing",
        'giver = "sage"',
        'giver = "ghost"',
        "[quests.fetch] giver: NPC 'ghost' does not exist",
    ),
    (
        "quest goal item missing",
        'goal = { bring = "key" }',
        'goal = { bring = "pie" }',
        "[quests.fetch.goal] bring: item 'pie' does not exist",
    ),
    (
        "quest goal of no known kind",
        'goal = { bring = "key" }',
        'goal = { fly = "key" }',
        "[quests.fetch.goal] goal: needs exactly one of bring, reach, talk",
    ),
    (
        "quest reward missing",
        'goal = { bring = "key" }',
        'goal = { bring = "key" }\nreward = "crown"',
        "[quests.fetch] reward: item 'crown' does not exist",
    ),
    (
        "bad quest state",
        'goal = { bring = "key" }',
        'goal = { bring = "key" }\nstate = "lost"',
        "[quests.fetch] state: must be one of",
    ),
    (
        "start room missing",
        'start = "hall"',
        'start = "cellar"',
        "[world] start: room 'cellar' does not exist",
    ),
    (
        "win quest missing",
        'quests = ["fetch"]',
        'quests = ["nope"]',
        "[win] quests: quest 'nope' does not exist",
    ),
    ("no win condition", 'quests = ["fetch"]', "", "[win] win: needs at least one of"),
    (
        "unknown key in an item",
        'name = "box"',
        'name = "box"\ncolour = "red"',
        "[items.box] colour: unknown key",
    ),
    (
        "unknown top-level table",
        "[world]",
        "[weather]\nrain = true\n\n[world]",
        "[top level] weather: unknown key",
    ),
    ("wrong type", 'name = "Yard"', "name = 7", "[rooms.yard] name: must be str, not int"),
    ("missing required name", 'name = "Yard"', "", "[rooms.yard] name: missing"),
    (
        "closed non-container",
        'name = "key"\nlocation = "hall"',
        'name = "key"\nlocation = "hall"\nclosed = true',
        "[items.key] closed: only a container can be closed",
    ),
    (
        "shared key",
        "[rooms.yard]",
        '[items.yard]\nname = "yard sign"\nlocation = "hall"\n\n[rooms.yard]',
        "[top level] yard: a room, item and NPC may not share a key",
    ),
    (
        "use unlocks a missing exit",
        'name = "box"',
        'name = "box"\nuse = { text = "Click.", unlocks = ["hall.down"] }',
        "[items.box.use] unlocks: exit 'hall.down' does not exist",
    ),
]


def test_the_good_world_loads() -> None:
    world = parse_world(GOOD, source="good.toml", name="good")
    assert world.quests["fetch"].goal.to == "sage"
    assert world.rooms["hall"].exits["east"].locked


@pytest.mark.parametrize(("what", "old", "new", "expected"), FAULTS, ids=[f[0] for f in FAULTS])
def test_each_fault_names_file_table_and_key(
    what: str, old: str, new: str, expected: str, tmp_path: Path
) -> None:
    assert old in GOOD, what
    path = tmp_path / "broken.toml"
    path.write_text(GOOD.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(WorldError) as caught:
        load_world(path)
    message = str(caught.value)
    assert message.startswith("broken.toml: "), message
    assert expected in message, message


def test_broken_toml_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "syntax.toml"
    path.write_text('[world]\ntitle = "unterminated\n', encoding="utf-8")
    with pytest.raises(WorldError, match=r"syntax.toml: not valid TOML.*line 2"):
        load_world(path)


def test_missing_file_is_a_world_error(tmp_path: Path) -> None:
    with pytest.raises(WorldError, match="cannot read"):
        load_world(tmp_path / "nothing.toml")


def test_shipped_world_is_big_enough(shipped_world) -> None:
    world = shipped_world
    assert len(world.rooms) >= 12
    assert len(world.items) >= 15
    assert len(world.npcs) >= 4
    assert len(world.quests) >= 3
    assert any(e.locked for room in world.rooms.values() for e in room.exits.values())
    assert all(room.text for room in world.rooms.values()), "every room has authored text"


def test_list_and_find_worlds() -> None:
    names = [info.name for info in list_worlds()]
    assert DEFAULT_WORLD in names
    assert find_world(DEFAULT_WORLD).name == f"{DEFAULT_WORLD}.toml"
    with pytest.raises(WorldError, match="no world by that name"):
        find_world("atlantis")
    with pytest.raises(WorldError, match="no such world file"):
        find_world("/nowhere/else.toml")


def test_list_worlds_reports_broken_files(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("[world]\n", encoding="utf-8")
    (tmp_path / "good.toml").write_text(GOOD, encoding="utf-8")
    infos = {info.name: info for info in list_worlds(tmp_path)}
    assert infos["good"].title == "Good" and not infos["good"].error
    assert "[world] title: missing" in infos["bad"].error
