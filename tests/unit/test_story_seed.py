"""A fresh story per game: a new game without a seed draws its own, the journal shows it,
and the save keeps it, so ``play --seed N`` can tell that story again."""

from __future__ import annotations

from pathlib import Path

from textgamegen.engine.game import Game
from textgamegen.engine.saves import save_game
from textgamegen.engine.world import World


def journal(game: Game) -> str:
    return "\n".join(event.text for event in game.step("journal").events)


def test_new_games_without_a_seed_draw_different_ones(tiny_world: World) -> None:
    seeds = {Game.new(tiny_world, seed=None, autosave=False).seed for _ in range(4)}
    assert len(seeds) == 4, "each new game tells its own story"
    assert all(0 <= seed < 1 << 31 for seed in seeds)
    assert Game.new(tiny_world, seed=1).seed == 1, "a given seed is kept"


def test_the_journal_shows_the_seed(tiny_world: World) -> None:
    game = Game.new(tiny_world, seed=None, autosave=False)
    assert f"Story seed: {game.seed}." in journal(game)
    game.step("talk to sage")
    shown = journal(game)
    assert "[active] Fetch the Gem" in shown and f"Story seed: {game.seed}." in shown
    assert game.turn == 1, "reading the journal takes no turn"


def test_the_save_keeps_the_seed(tiny_world: World, tmp_path: Path) -> None:
    game = Game.new(tiny_world, seed=None, saves_dir=tmp_path, autosave=False)
    game.step("n")
    save_game(game, "drawn", tmp_path)
    assert Game.load("drawn", tmp_path).seed == game.seed
    # Loaded in another game, the story goes on with the saved game's seed.
    other = Game.new(tiny_world, seed=None, saves_dir=tmp_path, autosave=False)
    other.step("load drawn")
    assert other.seed == game.seed
    assert f"Story seed: {game.seed}." in journal(other)


def test_going_back_to_the_game_left_by_a_load_gives_back_its_own_seed(
    tiny_world: World, tmp_path: Path
) -> None:
    """A load keeps the game left as its autosave (issue 21: undo no longer crosses a
    load); loading that back gives the story its own seed and prose again, not the other
    save's (issue 25), and the story goes on as it would have without the load."""
    other = Game.new(tiny_world, seed=2, saves_dir=tmp_path, autosave=False)
    other.step("n")
    written = next(r for r in other.step("x box").requests if r.cache_key)
    other.fulfil(written, "The loaded save's own words.")
    save_game(other, "other", tmp_path)
    game = Game.new(tiny_world, seed=1, saves_dir=tmp_path)
    twin = Game.new(tiny_world, seed=1, autosave=False)
    for played in (game, twin):
        played.step("talk to sage")
    before = game.to_dict()
    said = [event.text for event in game.step("load other").events]
    assert "Loaded 'other'" in said[0]
    assert game.seed == 2 and game.cache == other.cache
    assert "nothing to undo since you loaded 'other'" in game.step("undo").events[0].text
    assert game.seed == 2
    [kept] = [text for text in said if text.startswith("The game you left is kept")]
    game.step(kept.split("'")[1])  # "load autosave-tiny-..."
    assert game.seed == 1 and "Story seed: 1." in journal(game)
    now = game.to_dict()
    assert now["cache"] == before["cache"], "its own prose, none of the other save's"
    for key in ("room", "turn", "inventory", "quests"):
        assert now["state"].get(key) == before["state"].get(key)

    # And the story goes on with the seeds it would have had without the load (its story
    # lines hold the room the load described again).
    def asked(played: Game) -> list[dict]:
        return [{**r.to_dict(), "story": None} for r in played.step("n").requests]

    assert asked(game) == asked(twin)
