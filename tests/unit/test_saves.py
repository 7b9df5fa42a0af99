"""Saves: round trip, atomic writes, versions, bad files, names, autosave, the repo's examples."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from textgamegen import atomic
from textgamegen.engine.game import Game
from textgamegen.engine.saves import (
    AUTOSAVE_NAME,
    SAVE_VERSION,
    SaveError,
    is_autosave,
    latest_autosave,
    list_saves,
    save_game,
    save_name,
    saved_text,
)
from textgamegen.engine.world import World

REPO = Path(__file__).resolve().parents[2]


def played(world: World, saves_dir: Path | None = None, **kwargs: Any) -> Game:
    game = Game.new(world, seed=5, saves_dir=saves_dir, **kwargs)
    for command in ["take brass key", "talk to sage", "n", "x note"]:
        result = game.step(command)
        for request in result.requests:
            game.fulfil(request, f"prose for {request.cache_key}")
    return game


def test_round_trip_keeps_state_cache_and_seed(tiny_world: World, tmp_path: Path) -> None:
    game = played(tiny_world)
    path = save_game(game, "First Try", tmp_path)
    assert path.name == "first-try.json"
    loaded = Game.load("first-try", tmp_path)
    assert loaded.to_dict() == game.to_dict()
    assert loaded.cache["item:note"] == "prose for item:note"
    assert loaded.world.name == "tiny"
    # The loaded game plays on exactly like the original.
    assert [r.to_dict() for r in loaded.step("dance").requests] == [
        r.to_dict() for r in game.step("dance").requests
    ]


def test_save_and_load_commands_in_game(tiny_world: World, tmp_path: Path) -> None:
    game = played(tiny_world, tmp_path)
    result = game.step("save slot one")
    assert "Saved as 'slot-one'" in result.events[0].text
    game.step("s")
    game.step("drop all")
    assert game.inventory() == []
    result = game.step("load slot one")
    assert "Loaded" in result.events[0].text
    assert game.room().key == "study" and "brass key" in game.inventory()
    assert "Not loaded" in game.step("load nothing-here").events[0].text
    # A load is a boundary: undo never goes back into the game left (issue 21).
    assert "nothing to undo since you loaded 'slot-one'" in game.step("undo").events[0].text
    assert "brass key" in game.inventory()


def test_a_save_killed_mid_write_leaves_the_old_save(
    tiny_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    game = played(tiny_world)
    path = save_game(game, "keep", tmp_path)
    old = path.read_bytes()
    game.step("s")

    def crash(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", crash)
    with pytest.raises(SaveError, match=r"^'keep': cannot write the save: No space left"):
        save_game(game, "keep", tmp_path)
    assert path.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["keep.json"], "no temp file left behind"
    assert Game.load("keep", tmp_path).room().key == "study"


def test_a_save_process_killed_mid_write_leaves_the_old_save(tmp_path: Path) -> None:
    """A real process dies (os._exit) between writing the temp file and the rename."""
    target = tmp_path / "slot.json"
    target.write_text('{"old": true}\n', encoding="utf-8")
    code = (
        "import os, sys; from pathlib import Path; from textgamegen import atomic\n"
        "atomic.os.replace = lambda *a: os._exit(9)\n"
        f"atomic.write_atomic(Path({str(target)!r}), 'x' * 100000)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, timeout=60
    )
    assert done.returncode == 9
    assert json.loads(target.read_text(encoding="utf-8")) == {"old": True}


def write(tmp_path: Path, name: str, data: object) -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def good_save(world: World, tmp_path: Path) -> dict:
    return json.loads(save_game(played(world), "good", tmp_path).read_text(encoding="utf-8"))


BAD_SAVES = [
    (
        "broken",
        lambda d: '{"format": "textgamegen-save", "version": 1, "game": {',
        "not valid JSON",
    ),
    ("notasave", lambda d: {"hello": "world"}, "not a TextGameGen save"),
    ("noversion", lambda d: {**d, "version": None}, "no version number"),
    ("newer", lambda d: {**d, "version": SAVE_VERSION + 1}, "newer than this game understands"),
    ("older", lambda d: {**d, "version": 0}, "too old to load"),
    ("otherworld", lambda d: {**d, "world": "atlantis"}, "is for world 'atlantis', not 'tiny'"),
    ("nowhere", lambda d: {**d, "world": "atlantis", "world_file": ""}, "world cannot be loaded"),
    (
        "badroom",
        lambda d: {**d, "game": {**d["game"], "state": {**d["game"]["state"], "room": "moon"}}},
        "room 'moon' is not in world",
    ),
    (
        "baditem",
        lambda d: {
            **d,
            "game": {**d["game"], "state": {**d["game"]["state"], "locations": {"ufo": "hall"}}},
        },
        "item 'ufo' is not in world",
    ),
    (
        "badturn",
        lambda d: {**d, "game": {**d["game"], "state": {**d["game"]["state"], "turn": -3}}},
        "turn must be",
    ),
]


@pytest.mark.parametrize(("name", "mutate", "expected"), BAD_SAVES, ids=[b[0] for b in BAD_SAVES])
def test_bad_save_files_give_clear_errors(
    tiny_world: World,
    tmp_path: Path,
    name: str,
    mutate,
    expected: str,
) -> None:
    data = good_save(tiny_world, tmp_path)
    data["world_file"] = str(REPO / "tests/fixtures/worlds/tiny.toml")
    path = write(tmp_path, name, mutate(data))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(SaveError) as caught:
        Game.load(name, tmp_path)
    assert str(caught.value).startswith(f"'{name}': "), "the message names the save"
    assert str(path) not in str(caught.value)
    assert expected in str(caught.value)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before, "nothing on disk changes"


def test_a_save_for_another_world_is_refused(
    tiny_world: World, shipped_world: World, tmp_path: Path
) -> None:
    save_game(played(tiny_world), "tiny", tmp_path)
    with pytest.raises(SaveError, match="is for world 'tiny', not 'lanternfall'"):
        Game.load("tiny", tmp_path, world=shipped_world)
    game = Game.new(shipped_world, saves_dir=tmp_path)
    assert "Not loaded" in game.step("load tiny").events[0].text
    assert game.room().key == "quay"


def test_missing_save(tmp_path: Path) -> None:
    with pytest.raises(SaveError, match="no such save"):
        Game.load("ghost", tmp_path)


def test_messages_name_saves_by_their_name(tiny_world: World, tmp_path: Path) -> None:
    """Not by the file's full path: "save NAME", Ctrl+S and "load NAME" all say the name."""
    game = played(tiny_world, tmp_path)
    saved = game.step("save Slot One").events[0].text
    assert saved == "Saved as 'slot-one' (slot-one.json)."
    assert saved_text(save_game(game, "Slot One", tmp_path)) == saved, "Ctrl+S says the same"
    missing = game.step("load nosuchsave").events[0].text
    assert missing == "Not loaded: 'nosuchsave': no such save"
    assert str(tmp_path) not in saved + missing
    # A file given by its path (play --load FILE) is named by that path.
    with pytest.raises(SaveError, match=re.escape(f"{tmp_path / 'gone.json'}: no such save")):
        Game.load(str(tmp_path / "gone.json"), tmp_path)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("My Game!", "my-game"),
        ("../../etc/passwd", "etc-passwd"),
        ("a/b\\c", "a-b-c"),
        ("autosave", "autosave"),
        ("Ünïcode", "n-code"),
        ("x" * 100, "x" * 40),
    ],
)
def test_save_names_are_sanitised(raw: str, expected: str) -> None:
    assert save_name(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "..", "../", "/", "🦜"])
def test_unusable_save_names(raw: str) -> None:
    with pytest.raises(SaveError, match="not a usable save name"):
        save_name(raw)


def test_saves_never_leave_the_folder(tiny_world: World, tmp_path: Path) -> None:
    folder = tmp_path / "saves"
    path = save_game(played(tiny_world), "../../escape", folder)
    assert path.parent == folder


def test_autosave_every_n_turns_and_on_quit(tiny_world: World, tmp_path: Path) -> None:
    game = Game.new(tiny_world, saves_dir=tmp_path, autosave_every=3)
    assert game.saving.autosave_name.startswith(f"{AUTOSAVE_NAME}-tiny-")
    auto = tmp_path / f"{game.saving.autosave_name}.json"
    game.step("wait")
    game.step("wait")
    assert not auto.exists()
    game.step("wait")
    assert Game.load(game.saving.autosave_name, tmp_path).turn == 3
    game.step("n")
    game.step("quit")
    assert Game.load(game.saving.autosave_name, tmp_path).room().key == "study"


def test_each_game_autosaves_into_its_own_slot(tiny_world: World, tmp_path: Path) -> None:
    first = Game.new(tiny_world, saves_dir=tmp_path, autosave_every=1)
    for _ in range(4):
        first.step("wait")
    second = Game.new(tiny_world, saves_dir=tmp_path, autosave_every=1)
    second.step("n")
    slot = first.saving.autosave_name
    assert second.saving.autosave_name != slot
    assert Game.load(slot, tmp_path).turn == 4, "the first game's autosave is kept"
    latest = latest_autosave(tmp_path)
    assert latest is not None and latest.name == second.saving.autosave_name
    assert Game.load(AUTOSAVE_NAME, tmp_path).saving.autosave_name == latest.name
    # Continuing a game keeps its slot; playing on from a named save takes a new one.
    assert Game.load(slot, tmp_path).saving.autosave_name == slot
    save_game(first, "named", tmp_path)
    assert Game.load("named", tmp_path).saving.autosave_name not in ("named", slot)
    # A save from before per-game slots is still an autosave.
    save_game(first, AUTOSAVE_NAME, tmp_path)
    assert is_autosave(AUTOSAVE_NAME)
    assert Game.load(AUTOSAVE_NAME, tmp_path).saving.autosave_name == AUTOSAVE_NAME


def test_leaving_saves_only_turns_not_yet_saved_on_leaving(
    tiny_world: World, tmp_path: Path
) -> None:
    """The one policy the UI asks when the player leaves a game (``before_leaving``)."""
    game = Game.new(tiny_world, saves_dir=tmp_path, autosave_every=2)
    auto = tmp_path / f"{game.saving.autosave_name}.json"
    assert game.saving.before_leaving(game) == "" and not auto.exists(), "nothing played yet"
    game.step("wait")
    game.step("wait")  # the turn's own autosave is written before its prose arrives ...
    result = game.step("x statue")
    game.fulfil(result.requests[0], "Prose that came after the autosave.")
    game.step("undo")  # ... and undo takes the game back to that same turn
    assert game.turn == 2 and "Prose that came after" not in auto.read_text(encoding="utf-8")
    assert game.saving.before_leaving(game) == ""
    assert "Prose that came after" in auto.read_text(encoding="utf-8"), "leaving saved it"
    auto.unlink()
    assert game.saving.before_leaving(game) == "" and not auto.exists(), "already saved"
    game.step("quit")  # "quit" saves, and leaving after it saves nothing more
    assert auto.exists()
    auto.unlink()
    game.saving.before_leaving(game)
    assert not auto.exists()
    # A loaded game is the game being played: leaving saves it, even with no turn played,
    # so "Continue" comes back to it (issue 21); once saved, it is saved like any other.
    save_game(game, "named", tmp_path)
    loaded = Game.load("named", tmp_path)
    loaded_auto = tmp_path / f"{loaded.saving.autosave_name}.json"
    assert loaded.saving.before_leaving(loaded) == ""
    assert Game.load(loaded.saving.autosave_name, tmp_path).turn == 2
    loaded_auto.unlink()
    assert loaded.saving.before_leaving(loaded) == "" and not loaded_auto.exists()
    loaded.step("wait")
    loaded.saving.before_leaving(loaded)
    assert Game.load(loaded.saving.autosave_name, tmp_path).turn == 3
    # So is a game whose state "load" replaced in play, into the loaded game's own slot
    # (the game left keeps its slot: issue 21).
    assert not auto.exists()
    game.load_from("named")
    assert game.saving.autosave_name != auto.stem
    game.saving.before_leaving(game)
    assert not auto.exists() and Game.load(game.saving.autosave_name, tmp_path).turn == 2


def test_autosave_off_writes_nothing(tiny_world: World, tmp_path: Path) -> None:
    game = Game.new(tiny_world, saves_dir=tmp_path, autosave_every=1, autosave=False)
    for command in ["wait", "wait", "quit"]:
        game.step(command)
    assert list(tmp_path.iterdir()) == []


def test_autosave_failure_is_reported_not_raised(tiny_world: World, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    game = Game.new(tiny_world, saves_dir=blocker, autosave_every=1)
    result = game.step("wait")
    assert any("Autosave failed" in e.text for e in result.events)


def test_list_saves_skips_broken_files(tiny_world: World, tmp_path: Path) -> None:
    save_game(played(tiny_world), "one", tmp_path)
    write(tmp_path, "broken", "{nope")
    infos = list_saves(tmp_path)
    assert [(i.name, i.world, i.turn) for i in infos] == [("one", "tiny", 4)]
    assert list_saves(tmp_path / "missing") == []


def test_repo_example_save_loads_and_is_current(shipped_world: World, tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "tests/fixtures/scripts"))
    try:
        from make_example_saves import MIDGAME_NAME, midgame_game
    finally:
        sys.path.pop(0)
    example = REPO / "saves" / f"{MIDGAME_NAME}.json"
    game = Game.load(str(example), tmp_path)
    assert game.world.name == "lanternfall"
    assert game.room().key == "square" and "willow tincture" in game.inventory()
    assert game.cache, "the generated-text cache is saved"
    assert game.to_dict() == midgame_game().to_dict(), (
        "saves/ is out of date: run python tests/fixtures/scripts/make_example_saves.py"
    )


def test_saves_dir_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from textgamegen import paths

    monkeypatch.setenv("TEXTGAMEGEN_SAVES_DIR", str(tmp_path / "elsewhere"))
    assert paths.saves_dir() == tmp_path / "elsewhere"
    assert os.environ["TEXTGAMEGEN_SAVES_DIR"].endswith("elsewhere")


@pytest.mark.parametrize(
    "saved", ["saves/lanternfall-midgame.json", "tests/fixtures/saves/lanternfall-v1-no-map.json"]
)
def test_saves_written_before_the_enums_load_and_save_byte_for_byte(
    saved: str, tmp_path: Path
) -> None:
    """Quest states are enums now; a save still holds the same words, so an old save loads
    and, saved again, writes the same game object."""
    from textgamegen.engine.world import QuestState

    old = json.loads((REPO / saved).read_text(encoding="utf-8"))
    game = Game.load(str(REPO / saved), tmp_path)
    assert set(game.state.quests.values()) <= set(QuestState)
    assert all(type(state) is QuestState for state in game.state.quests.values())
    again = json.loads(save_game(game, "again", tmp_path).read_text(encoding="utf-8"))
    old_state, new_state = old["game"]["state"], again["game"]["state"]
    assert new_state["quests"] == old_state["quests"]
    if "map" in old_state:  # the current version: the same file, but for the time

        def text(path: Path) -> str:
            return re.sub(r'"saved_at": "[^"]*"', "", path.read_text(encoding="utf-8"))

        assert text(tmp_path / "again.json") == text(REPO / saved)
    else:  # a version 1 save gains a map and nothing else
        assert {**new_state, "map": None} == {**old_state, "map": None}
