"""The engine's invariants, held under random play on every shipped world.

A seeded random walk (``bench/random_play.py``) plays commands drawn from what the game
knows, and junk, and checks after every step: every item in exactly one place, nothing
changed by a step that took no turn, undo exact, save -> load identical, no exception.
The suite plays a small budget per world; ``python -m bench.random_play`` plays 100,000.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.random_play import Report, place_problems, walk
from textgamegen.engine import actions
from textgamegen.engine.content import EventKind
from textgamegen.engine.game import Game
from textgamegen.engine.parser import Command
from textgamegen.engine.turn import Turn
from textgamegen.engine.world import World, load_world
from textgamegen.engine.worlds import WorldInfo, list_worlds

STEPS = 40
"""Per world: 14 worlds x 40 steps take a few seconds on a quiet machine."""

WORLDS = [info for info in list_worlds() if not info.error]


def test_every_shipped_world_is_played() -> None:
    assert len(WORLDS) >= 14


@pytest.mark.parametrize("info", WORLDS, ids=[info.name for info in WORLDS])
def test_random_play_keeps_the_invariants(info: WorldInfo, tmp_path: Path) -> None:
    report = walk(load_world(info.path), STEPS, seed=sum(map(ord, info.name)), saves_dir=tmp_path)
    assert report.violations == []
    # The walk played the game, not only refused junk: turns passed, some were undone,
    # and a save file was written and read back.
    assert report.steps == STEPS and report.turns > 0 and report.saves > 0


def test_an_item_inside_itself_is_caught(shipped_world: World) -> None:
    game = Game.new(shipped_world, seed=0, autosave=False)
    game.state.locations["crate"] = "copper_coin"  # the coin is in the crate
    assert any("inside itself" in problem for problem in place_problems(game))
    game.state.locations["crate"] = "atlantis"
    assert any("which is no place" in problem for problem in place_problems(game))


def test_an_undo_that_gives_back_too_little_is_caught(
    shipped_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forgetful(game: Game, turn: Turn) -> None:
        game.state.turn = max(0, game.state.turn - 1)  # the counter goes back, nothing else

    monkeypatch.setattr(Game, "undo", forgetful)
    report = walk(shipped_world, 200, seed=3, saves_dir=tmp_path, report=Report())
    assert any("undo" in violation.what for violation in report.violations)


def test_a_refused_command_that_changes_the_world_is_caught(
    shipped_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def leaky(game: Game, turn: Turn, command: Command) -> None:
        game.state.flags.add("leaked")
        turn.say("Say something.", EventKind.SYSTEM)

    monkeypatch.setitem(actions.ACTIONS, "help", leaky)
    report = walk(shipped_world, 300, seed=5, saves_dir=tmp_path)
    assert any("no turn passed" in violation.what for violation in report.violations)


def test_loads_undo_and_again_count_only_real_turns(
    shipped_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A load sets the turn to the save's, which the walk once took for a turn to be undone
    # (a violation that was none). "undo" right after the loads has nothing to take back,
    # and "g" repeats no meta command: nothing since the loads is a turn (issue 21).
    import bench.random_play as random_play

    commands = iter(["wait", "save walk", "wait", "load walk", "load walk", "undo", "g"])
    monkeypatch.setattr(random_play, "UNDO_CHANCE", 0.0)
    monkeypatch.setattr(random_play, "command_for", lambda game, rng: next(commands))
    report = walk(shipped_world, 7, seed=0, saves_dir=tmp_path)
    assert report.violations == [] and report.turns == 2
