"""Wonderland, the second shipped world: big enough to be a game, winnable by its walkthrough,
and played through the CLI as a player would run it."""

from __future__ import annotations

from pathlib import Path

from textgamegen.__main__ import main
from textgamegen.engine.game import Game
from textgamegen.engine.world import load_world
from textgamegen.engine.worlds import find_world, list_worlds
from textgamegen.narration.template import TemplateGenerator
from textgamegen.play.script import run_script

WALKTHROUGH = Path(__file__).parent / "wonderland-walkthrough.txt"


def test_wonderland_is_shipped_and_big_enough() -> None:
    assert "wonderland" in [info.name for info in list_worlds() if not info.error]
    world = load_world(find_world("wonderland"))
    assert len(world.rooms) >= 8 and len(world.items) >= 8
    assert len(world.npcs) >= 3 and len(world.quests) >= 2
    assert world.narrator == "alice"


def test_wonderland_walkthrough_wins() -> None:
    game = Game.new(load_world(find_world("wonderland")), seed=0, autosave=False)
    report = run_script(WALKTHROUGH, game, TemplateGenerator())
    assert report.ok, "\n".join(str(f) for f in report.failures)
    assert report.won and game.won
    assert report.checked >= 40
    assert all(state == "done" for _, state in game.quest_log())


def test_wonderland_walkthrough_through_the_cli(tmp_path: Path) -> None:
    code = main(
        [
            "play",
            "--world",
            "wonderland",
            "--script",
            str(WALKTHROUGH),
            "--model",
            "template",
            "--saves-dir",
            str(tmp_path),
        ]
    )
    assert code == 0
