"""Continue continues (issue 21): the autosave follows the game being played, also after a
load, and Continue opens the newest autosave of the chosen world (with ``--world``, that
world's saves only)."""

from __future__ import annotations

import os
from argparse import Namespace
from pathlib import Path

from fakes import ScriptedGenerator
from pilot_helpers import make_app, type_command, wait_until
from textual.widgets import OptionList

from textgamegen.engine.game import Game
from textgamegen.engine.saves import is_autosave, latest_autosave, list_saves, save_game
from textgamegen.engine.world import load_world
from textgamegen.engine.worlds import find_world
from textgamegen.ui.app import TextGameGenApp, _launch_from_args
from textgamegen.ui.screens.game import GameScreen
from textgamegen.ui.screens.saves import LoadDialog
from textgamegen.ui.screens.title import TitleScreen


def _played(world: str, commands: list[str], saves: Path) -> Game:
    game = Game.new(load_world(find_world(world)), seed=1, saves_dir=saves, autosave_every=0)
    for command in commands:
        game.step(command)
    return game


async def _continue(app: TextGameGenApp, says: str = "") -> Game:
    """Run the app from its title screen, press Continue, and return the game it opens.
    ``says``: what the Continue entry must name (the world and turn it opens)."""
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TitleScreen))
        menu = app.screen.query_one("#title-menu", OptionList)
        entry = menu.get_option("continue").prompt
        assert says in str(entry), entry
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        assert app.game is not None
        game = app.game
        app.action_quit()
    return game


async def test_continue_after_loading_an_older_save_opens_the_loaded_game(
    tmp_path: Path,
) -> None:
    saves = tmp_path / "saves"
    # An older named save: two turns in, in the Chandlery.
    older = _played("lanternfall", ["w"], saves)
    older.step("x counter")
    save_game(older, "older", saves)
    older_room = older.room().key
    app = make_app(tmp_path, generator=ScriptedGenerator(), show_title=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TitleScreen))
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        first = app.game
        assert first is not None
        for command in ("n", "e", "w", "s"):
            await type_command(pilot, command)
        assert first.turn == 4
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, LoadDialog))
        listing = app.screen.query_one("#load-list", OptionList)
        ids = [listing.get_option_at_index(i).id for i in range(listing.option_count)]
        listing.highlighted = ids.index("older")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.game is not first)
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        assert app.game is not None and app.game.turn == older.turn
        # Quit at once, with no turn played in the loaded game.
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: app.return_code is not None)
    latest = latest_autosave(saves)
    assert latest is not None and latest.name != first.saving.autosave_name

    game = await _continue(make_app(tmp_path, generator=ScriptedGenerator(), show_title=True))
    assert game.turn == older.turn and game.room().key == older_room


async def test_continue_after_loading_and_playing_on_opens_the_turn_left(tmp_path: Path) -> None:
    saves = tmp_path / "saves"
    save_game(_played("lanternfall", ["w"], saves), "older", saves)
    app = make_app(tmp_path, generator=ScriptedGenerator(), show_title=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TitleScreen))
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        for command in ("n", "s"):
            await type_command(pilot, command)
        # The in-game "load" replaces the game's state: its autosave follows it too.
        await type_command(pilot, "load older")
        await wait_until(pilot, lambda: app.game is not None and app.game.turn == 1)
        await type_command(pilot, "e")
        assert app.game is not None and app.game.turn == 2
        left = app.game.room().key
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: app.return_code is not None)

    game = await _continue(make_app(tmp_path, generator=ScriptedGenerator(), show_title=True))
    assert game.turn == 2 and game.room().key == left


async def test_continue_after_loading_an_old_autosave_opens_it(tmp_path: Path) -> None:
    """An autosave of another game, loaded from the list, is the game played: Continue
    comes back to it, not to the game that was left for it."""
    saves = tmp_path / "saves"
    old = _played("lanternfall", ["w"], saves)
    old.saving.on_quit(old)
    os.utime(saves / f"{old.saving.autosave_name}.json", (1_000_000, 1_000_000))
    app = make_app(tmp_path, generator=ScriptedGenerator(), show_title=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TitleScreen))
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        for command in ("n", "s", "n"):
            await type_command(pilot, command)
        app._open_save(old.saving.autosave_name)
        await wait_until(pilot, lambda: app.game is not None and app.game.turn == 1)
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: app.return_code is not None)

    game = await _continue(make_app(tmp_path, generator=ScriptedGenerator(), show_title=True))
    assert game.saving.autosave_name == old.saving.autosave_name
    assert game.turn == 1 and game.room().key == old.room().key


async def test_continue_with_world_opens_only_that_worlds_saves(
    tmp_path: Path, player_dirs: Path
) -> None:
    saves = player_dirs / "saves"
    wonderland = _played("wonderland", [], saves)
    wonderland.step("look")
    wonderland.saving.on_quit(wonderland)
    os.utime(saves / f"{wonderland.saving.autosave_name}.json", (1_000_000, 1_000_000))
    lanternfall = _played("lanternfall", ["w"], saves)
    lanternfall.saving.on_quit(lanternfall)
    newest = latest_autosave(saves)
    assert newest is not None and newest.world == "lanternfall"

    def launched(world: str | None) -> TextGameGenApp:
        args = Namespace(world=world, seed=None, load=None, model="template", device="cpu")
        return TextGameGenApp(_launch_from_args(args), generator=ScriptedGenerator())

    # Without --world, Continue opens the newest game of any world ...
    game = await _continue(launched(None), says="Lanternfall, turn 1")
    assert game.world.name == "lanternfall"
    assert game.saving.autosave_name == lanternfall.saving.autosave_name
    # ... and with it, that world's newest, though Lanternfall's is newer still.
    game = await _continue(launched("wonderland"), says="Alice in Wonderland, turn 1")
    assert game.world.name == "wonderland"
    assert game.saving.autosave_name == wonderland.saving.autosave_name
    # Continued and left, Wonderland's is now the newest game of all.
    newest = latest_autosave(saves)
    assert newest is not None and newest.world == "wonderland"


async def test_continue_with_a_world_that_has_no_autosave_is_not_offered(
    tmp_path: Path, player_dirs: Path
) -> None:
    saves = player_dirs / "saves"
    lanternfall = _played("lanternfall", ["w"], saves)
    lanternfall.saving.on_quit(lanternfall)
    args = Namespace(world="wonderland", seed=None, load=None, model="template", device="cpu")
    app = TextGameGenApp(_launch_from_args(args), generator=ScriptedGenerator())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TitleScreen))
        title = app.screen
        assert isinstance(title, TitleScreen) and not title.can_continue
        await pilot.press("c")
        assert isinstance(app.screen, TitleScreen), "no Wonderland autosave to continue"
        app.action_quit()
    autosaves = [info.world for info in list_saves(saves) if is_autosave(info.name)]
    assert autosaves == ["lanternfall"]
