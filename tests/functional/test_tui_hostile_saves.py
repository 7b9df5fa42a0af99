"""A hostile save in the folder (issue 11): the title screen still offers Continue for the
good autosave, and the Load dialog opens, lists the good saves and names the bad file."""

from __future__ import annotations

from pathlib import Path

import pytest
from pilot_helpers import wait_until
from textual.widgets import OptionList, Static

from textgamegen.config import Settings
from textgamegen.engine.game import Game
from textgamegen.engine.saves import AUTOSAVE_NAME, save_game
from textgamegen.engine.world import load_world
from textgamegen.engine.worlds import DEFAULT_WORLD, find_world
from textgamegen.narration.template import TemplateGenerator
from textgamegen.ui.app import Launch, TextGameGenApp
from textgamegen.ui.screens.saves import LoadDialog
from textgamegen.ui.screens.title import TitleScreen


@pytest.fixture(autouse=True)
def player_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TEXTGAMEGEN_SAVES_DIR", str(tmp_path / "saves"))
    monkeypatch.setenv("TEXTGAMEGEN_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("TEXTGAMEGEN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TEXTGAMEGEN_MODELS_DIR", str(tmp_path / "models"))
    return tmp_path


async def test_a_deep_save_hides_neither_continue_nor_the_load_list(tmp_path: Path) -> None:
    world = load_world(find_world(DEFAULT_WORLD))
    saves = tmp_path / "saves"
    game = Game.new(world, seed=3)
    game.step(game.exits()[0])
    save_game(game, AUTOSAVE_NAME, saves)
    (saves / "deep.json").write_text("[" * 5000 + "]" * 5000, encoding="utf-8")
    settings = Settings(model="template", device="cpu", prefetch=False)
    launch = Launch(
        world=world, settings=settings, saves_dir=saves, seed=7, model="template", device="cpu"
    )
    app = TextGameGenApp(launch, generator=TemplateGenerator(), show_title=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TitleScreen))
        assert app.screen.can_continue, "a valid autosave must keep Continue"
        await pilot.press("l")
        await wait_until(pilot, lambda: isinstance(app.screen, LoadDialog))
        listing = app.screen.query_one("#load-list", OptionList)
        names = [listing.get_option_at_index(i).id for i in range(listing.option_count)]
        assert names == [AUTOSAVE_NAME]
        broken = str(app.screen.query_one("#load-broken", Static).render())
        assert "'deep'" in broken
