"""The solvability check (issue 11): unwinnable worlds are caught with a reason; the shipped
world passes; ``textgamegen worlds --check`` exits 0, 1 or 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from textgamegen.__main__ import main
from textgamegen.engine.solvability import check_world
from textgamegen.engine.world import World, WorldError, load_world, parse_world

HEAD = """
[world]
title = "Test"
start = "yard"
"""

KEY_CYCLE = (
    HEAD
    + """
[win]
room = "east_hall"

[rooms.yard]
name = "Yard"
[rooms.yard.exits]
east = { to = "east_hall", locked = true, key = "east_key" }
west = { to = "west_hall", locked = true, key = "west_key" }

[rooms.east_hall]
name = "East Hall"
exits = { west = "yard" }

[rooms.west_hall]
name = "West Hall"
exits = { east = "yard" }

[items.east_key]
name = "east key"
location = "west_hall"

[items.west_key]
name = "west key"
location = "east_hall"
"""
)

NESTED_BOXES = (
    HEAD
    + """
[win]
quests = ["fetch"]

[rooms.yard]
name = "Yard"

[items.red_box]
name = "red box"
location = "blue_box"
container = true

[items.blue_box]
name = "blue box"
location = "red_box"
container = true

[items.gem]
name = "gem"
location = "red_box"

[npcs.sage]
name = "Sage"
location = "yard"

[quests.fetch]
title = "Fetch"
giver = "sage"
goal = { bring = "gem" }
"""
)

GIVES_ELSEWHERE = (
    HEAD
    + """
[win]
room = "vault"

[rooms.yard]
name = "Yard"
exits = { in = { to = "vault", locked = true, key = "key" } }

[rooms.vault]
name = "Vault"
exits = { out = "yard" }

[items.coin]
name = "coin"
location = "yard"

[items.key]
name = "key"
location = "{key_at}"

[npcs.smith]
name = "Smith"
location = "yard"
wants = "coin"
gives = "key"
"""
)

NO_FLAG = (
    HEAD
    + """
[win]
flags = ["bell_rung"]

[rooms.yard]
name = "Yard"
"""
)


def world(text: str) -> World:
    return parse_world(text, source="test.toml", name="test")


def test_the_shipped_and_tiny_worlds_can_be_won(shipped_world: World, tiny_world: World) -> None:
    for checked in (shipped_world, tiny_world):
        report = check_world(checked)
        assert report.winnable, report.reasons
        assert report.reasons == []


def test_locked_doors_whose_keys_lie_behind_each_other() -> None:
    report = check_world(world(KEY_CYCLE))
    assert not report.winnable
    assert "room 'east_hall' can never be reached" in report.reasons[0]
    assert "east_key" in report.reasons[0]


def test_containers_inside_each_other() -> None:
    report = check_world(world(NESTED_BOXES))
    assert not report.winnable
    assert "quest 'fetch'" in report.reasons[0] and "gem" in report.reasons[0]
    assert any("blue_box, red_box" in w and "inside each other" in w for w in report.warnings)


def test_an_npc_who_gives_an_item_placed_elsewhere() -> None:
    report = check_world(world(GIVES_ELSEWHERE.replace("{key_at}", "nowhere")))
    assert not report.winnable
    assert "vault" in report.reasons[0] and "'key'" in report.reasons[0]
    assert any("[npcs.smith] gives: 'key' starts in 'nowhere'" in w for w in report.warnings)


def test_a_misplaced_gift_the_player_can_still_pick_up_is_only_a_warning() -> None:
    report = check_world(world(GIVES_ELSEWHERE.replace("{key_at}", "yard")))
    assert report.winnable
    assert any("gives nothing" in w for w in report.warnings)


def test_a_win_flag_nothing_sets() -> None:
    report = check_world(world(NO_FLAG))
    assert not report.winnable
    assert "flag 'bell_rung' is set by no item's use" in report.reasons[0]


def test_a_world_nested_5000_deep_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(WorldError, match=r"deep.toml: .*nested too deeply"):
        load_world(path)
    path.write_text("x = " + "{a = " * 5000 + "1" + "}" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(WorldError, match=r"deep.toml: .*nested too deeply"):
        load_world(path)


def test_worlds_check_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worlds", "--check", "lanternfall"]) == 0
    assert "can be won" in capsys.readouterr().out
    bad = tmp_path / "cycle.toml"
    bad.write_text(KEY_CYCLE, encoding="utf-8")
    assert main(["worlds", "--check", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "CANNOT be won" in out and "east_key" in out
    broken = tmp_path / "broken.toml"
    broken.write_text("[world\n", encoding="utf-8")
    assert main(["worlds", "--check", str(broken)]) == 2
    assert "broken.toml" in capsys.readouterr().err


def test_an_item_got_in_a_trade_can_be_used() -> None:
    """Three world authors met it: a traded tinderbox whose use lights the beacon was
    never counted as within reach, so a winnable world was called unwinnable."""
    from textgamegen.engine.world import parse_world

    world = parse_world(
        '[world]\ntitle = "T"\nstart = "a"\n[win]\nflags = ["lit"]\n'
        '[rooms.a]\nname = "A"\n'
        '[items.coin]\nname = "coin"\nlocation = "a"\n'
        '[items.beacon]\nname = "beacon"\nlocation = "a"\nportable = false\n'
        '[items.flint]\nname = "flint"\nlocation = "tormod"\n'
        '[items.flint.use]\ntext = "Lit."\non = "beacon"\nflag = "lit"\n'
        '[npcs.tormod]\nname = "Tormod"\nlocation = "a"\nwants = "coin"\ngives = "flint"\n',
        "t.toml",
    )
    assert check_world(world).winnable
