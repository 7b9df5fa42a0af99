"""A load in play is a boundary (issue 21): "again" (g) repeats the last move typed, never
a meta command such as undo, load or save, so it can never take a load back; "undo" right
after a load never goes back into the game that was left, which is kept as its autosave
instead, so a load typed by mistake still loses nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from textgamegen.engine.game import Game
from textgamegen.engine.saves import is_autosave, save_path
from textgamegen.engine.world import World


def _texts(game: Game, command: str) -> list[str]:
    return [event.text for event in game.step(command).events]


def _world_of(game: Game) -> dict:
    """The game's state but its story (a load tells where you are, and adds that)."""
    state = game.state.to_dict()
    state.pop("story")
    return state


def _saved_then_played(world: World, saves_dir: Path) -> tuple[Game, dict]:
    """A game saved as 'there' at turn 2 (in the study, key in hand), then played on to
    turn 4 in the hall without the key; and the state saved."""
    game = Game.new(world, seed=1, saves_dir=saves_dir)
    for command in ("take brass key", "n"):
        game.step(command)
    game.step("save there")
    saved = _world_of(game)
    for command in ("s", "drop key"):
        game.step(command)
    assert game.turn == 4 and game.room().key == "hall"
    return game, saved


def test_again_after_undo_repeats_the_move_and_never_undoes_the_load(
    tiny_world: World, tmp_path: Path
) -> None:
    """The reported fault: load, a move, undo, then g. "undo" was remembered as the last
    command, so g undid again, and that took the load back: the game left came back."""
    game, saved = _saved_then_played(tiny_world, tmp_path)
    game.step("load there")
    assert _world_of(game) == saved
    game.step("wait")
    game.step("undo")
    assert _world_of(game) == saved
    game.step("g")  # the wait again, in the loaded game
    assert game.turn == 3 and game.room().key == "study" and "brass key" in game.inventory()
    game.step("undo")
    assert _world_of(game) == saved


def test_undo_right_after_a_load_says_so_and_keeps_the_loaded_game(
    tiny_world: World, tmp_path: Path
) -> None:
    game, saved = _saved_then_played(tiny_world, tmp_path)
    game.step("load there")
    assert _texts(game, "undo") == ["There is nothing to undo since you loaded 'there'."]
    assert _world_of(game) == saved
    assert "There is nothing to do again yet." in _texts(game, "g")
    assert _world_of(game) == saved
    # A turn played in the loaded game is undone as any other, and no further.
    game.step("s")
    game.step("undo")
    assert _world_of(game) == saved
    assert _texts(game, "undo") == ["There is nothing to undo."]


@pytest.mark.parametrize(
    "meta", ["undo", "save walk", "load there", "load nosuchsave", "i", "hint", "map", "help"]
)
def test_again_never_repeats_a_meta_command(tiny_world: World, tmp_path: Path, meta: str) -> None:
    game = Game.new(tiny_world, seed=1, saves_dir=tmp_path, autosave=False)
    game.step("take brass key")
    game.step("save there")
    game.step("wait")
    game.step("wait")
    game.step(meta)
    turn = game.turn
    game.step("g")
    if meta == "load there":  # the moves before the load were another game's
        assert game.turn == turn
    else:
        assert game.turn == turn + 1, f"g after {meta!r} repeats the wait"


def test_a_load_by_mistake_loses_nothing(tiny_world: World, tmp_path: Path) -> None:
    """The game left is autosaved before the load (undo used to be the way back): loading
    that autosave is the game as it was left, and the loaded game never writes into it."""
    game, _saved = _saved_then_played(tiny_world, tmp_path)
    left, seed = _world_of(game), game.seed
    texts = _texts(game, "load there")
    [kept] = [text for text in texts if text.startswith("The game you left is kept")]
    slot = kept.split("'load ")[1].split("'")[0]
    assert is_autosave(slot)
    assert slot != game.saving.autosave_name, "the loaded game autosaves into its own slot"
    before = save_path(slot, tmp_path).read_bytes()
    game.step("wait")
    game.saving.on_quit(game)  # the loaded game autosaves: into its own slot
    assert save_path(slot, tmp_path).read_bytes() == before
    game.step(f"load {slot}")
    assert _world_of(game) == left and game.seed == seed


def test_a_load_is_refused_when_the_game_left_cannot_be_kept(
    tiny_world: World, tmp_path: Path
) -> None:
    game, _saved = _saved_then_played(tiny_world, tmp_path)
    before = _world_of(game)
    slot = save_path(game.saving.autosave_name, tmp_path)
    slot.mkdir()  # a folder where the autosave must go: the write fails
    for _attempt in range(2):  # a failed autosave is not taken for a kept game
        texts = _texts(game, "load there")
        assert texts[0].startswith("Not loaded: the game you are playing could not be autosaved")
        assert _world_of(game) == before and game.turn == 4
    slot.rmdir()
    assert _texts(game, "load there")[0] == "Loaded 'there': turn 2."
    kept = Game.load(slot.stem, tmp_path)
    assert _world_of(kept) == before


def test_a_game_without_autosave_loads_without_a_kept_line(
    tiny_world: World, tmp_path: Path
) -> None:
    game = Game.new(tiny_world, seed=1, saves_dir=tmp_path, autosave=False)
    game.step("take brass key")
    game.step("save there")
    game.step("n")
    texts = _texts(game, "load there")
    assert texts[0] == "Loaded 'there': turn 1."
    assert not any("kept" in text for text in texts)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["there.json"]
    assert Game.load("there", tmp_path).turn == 1
