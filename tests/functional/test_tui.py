"""Pilot tests of the Textual front end, asserting on the messages the app posts.

Generators here are test doubles implementing the ``Generator`` protocol (instant, slow,
broken), so the tests are fast and need no model; the model-load failure test uses the
real loader with a missing model directory.
"""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

import pytest
from fakes import Gate, ScriptedGenerator
from pilot_helpers import (
    make_app,
    of_type,
    palette_searched,
    story,
    type_command,
    wait_until,
)
from textual.message import Message

from textgamegen.config import Settings, load_settings
from textgamegen.engine.saves import AUTOSAVE_NAME, list_saves
from textgamegen.engine.world import load_world
from textgamegen.engine.worlds import DEFAULT_WORLD, find_world
from textgamegen.narration.generator import Generator, GeneratorError
from textgamegen.ui.app import TextGameGenApp, _launch_from_args, run_tui
from textgamegen.ui.screens.game import GameScreen
from textgamegen.ui.screens.help import HelpScreen
from textgamegen.ui.screens.saves import LoadDialog, SaveDialog
from textgamegen.ui.screens.settings import SettingsScreen, model_choices
from textgamegen.ui.screens.title import TitleScreen
from textgamegen.ui.widgets.command_input import CommandInput
from textgamegen.ui.widgets.model_panel import ModelPanel
from textgamegen.ui.widgets.side_panel import SidePanel
from textgamegen.ui.widgets.status_bar import StatusBar
from textgamegen.ui.widgets.story_log import StoryLog

# -- the game screen -----------------------------------------------------------------------


async def test_command_updates_story_log_and_side_panel(tmp_path: Path) -> None:
    messages: list[Message] = []
    generator = ScriptedGenerator()
    app = make_app(tmp_path, generator=generator)
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        game = app.game
        assert game is not None
        side = app.screen.query_one(SidePanel)
        start_room = game.room().name
        assert side.texts["room"] == start_room
        direction = game.exits()[0]
        await type_command(pilot, direction)
        await wait_until(pilot, lambda: len(of_type(messages, StoryLog.NarrationCompleted)) >= 2)
        assert game.room().name != start_room
        assert side.texts["room"] == game.room().name
        assert side.texts["exits"].split("\n") == game.exits()
        text = story(app).plain_text()
        assert f"> {direction}" in text
        assert game.room().name in text
        # The prose streamed in, was shown, and went back to the game's story.
        assert of_type(messages, StoryLog.NarrationStreamed)
        narrated = of_type(messages, StoryLog.NarrationCompleted)[-1].narration.text
        assert narrated in text
        assert narrated in game.story()
        assert app.screen.query_one(CommandInput).value == ""


async def test_quests_appear_in_the_side_panel_once_given(tmp_path: Path) -> None:
    app = make_app(tmp_path, generator=ScriptedGenerator())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        side = app.screen.query_one(SidePanel)
        assert side.texts["quests"] == "none yet"  # unstarted quests are not given away
        await type_command(pilot, "east")
        await type_command(pilot, "talk to ferrin")
        assert side.texts["quests"] == "• Down to the Tide Caves"
        assert "Down to the Tide Caves" in story(app).plain_text()


async def test_history_and_tab_completion_in_the_input(tmp_path: Path) -> None:
    app = make_app(tmp_path, generator=ScriptedGenerator())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        game = app.game
        assert game is not None
        field = app.screen.query_one(CommandInput)
        await type_command(pilot, "look")
        await type_command(pilot, "inventory")
        await pilot.press("up")
        assert field.value == "inventory"
        await pilot.press("up")
        assert field.value == "look"
        await pilot.press("down", "down")
        assert field.value == ""
        # A verb: "exa" can only be "examine".
        assert [v for v in game.verbs() if v.startswith("exa")] == ["examine"]
        await pilot.press(*"exa", "tab")
        assert field.value == "examine "
        # A noun in scope, completed from its first letters.
        name = next(n for n in game.scope_names() if " " in n or len(n) > 4)
        field.value = ""
        await pilot.press(*"examine ", *name[:3], "tab")
        others = [n for n in game.scope_names() if n.lower().startswith(name[:3].lower())]
        if len(others) == 1:
            assert field.value == f"examine {name} "
        else:  # several share the prefix: Tab again cycles to each of them
            await pilot.press("tab")
            assert field.value.rstrip() in {f"examine {n}" for n in others}
        # Focus stays on the command line: Tab completes, it does not move focus.
        assert app.screen.focused is field


async def test_input_is_accepted_while_a_slow_generation_runs(tmp_path: Path) -> None:
    messages: list[Message] = []
    held = ScriptedGenerator(held=True)  # writes the opening's first word, then waits
    app = make_app(tmp_path, generator=held)
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        await wait_until(pilot, lambda: bool(of_type(messages, StoryLog.NarrationStreamed)))
        game = app.game
        assert game is not None
        turn = game.turn
        direction = game.exits()[0]
        await type_command(pilot, direction)
        await wait_until(pilot, lambda: game.turn == turn + 1)
        # The state changed and the side panel followed while the narrator is still on
        # the opening: it cannot finish before the test releases it.
        assert app.screen.query_one(SidePanel).texts["room"] == game.room().name
        assert f"> {direction}" in story(app).plain_text()
        assert not of_type(messages, StoryLog.NarrationCompleted)
        assert len(held.calls) == 1 and not held.release.is_set()
        assert story(app).is_narrating
        await pilot.press("escape")
        await wait_until(pilot, lambda: not story(app).is_narrating)


async def test_escape_cancels_a_running_generation(tmp_path: Path) -> None:
    messages: list[Message] = []
    held = ScriptedGenerator(held=True)  # never finishes unless cancelled
    app = make_app(tmp_path, generator=held)
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        await wait_until(pilot, lambda: bool(of_type(messages, StoryLog.NarrationStreamed)))
        game = app.game
        assert game is not None
        await type_command(pilot, "look")  # a second request waits in the queue
        await pilot.press("escape")
        # The held narration can only end by its cancel: Escape stopped it.
        await wait_until(pilot, lambda: bool(of_type(messages, StoryLog.NarrationCompleted)))
        assert not held.release.is_set()
        done = of_type(messages, StoryLog.NarrationCompleted)[0]
        assert done.narration.cancelled
        assert done.job.paragraph.text.endswith("…")
        # The queued request never ran: it shows the engine's own text instead.
        dropped = of_type(messages, StoryLog.NarrationDropped)
        assert len(dropped) == 1
        assert dropped[0].job.paragraph.text == dropped[0].job.request.fallback
        assert len(held.calls) == 1
        # Cut-short text is not cached as the room's description.
        assert done.job.request.cache_key not in game.cache
        assert not story(app).is_narrating


async def test_reranked_text_replaces_what_streamed(tmp_path: Path) -> None:
    messages: list[Message] = []
    final = "The reranker preferred this calmer sentence."
    app = make_app(tmp_path, generator=ScriptedGenerator(final=final))
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        await wait_until(pilot, lambda: bool(of_type(messages, StoryLog.NarrationCompleted)))
        done = of_type(messages, StoryLog.NarrationCompleted)[0]
        streamed = "".join(m.text for m in of_type(messages, StoryLog.NarrationStreamed))
        assert streamed != final
        assert done.job.paragraph.text == final
        game = app.game
        assert game is not None
        # The screen caches it when the message reaches it, just after the log showed it.
        await wait_until(pilot, lambda: done.job.request.cache_key in game.cache)
        assert game.cache[done.job.request.cache_key] == final
        panel = app.screen.query_one(ModelPanel)
        assert not panel.display, "the model panel is off by default"


async def test_prose_waits_for_the_model_while_commands_play_on(tmp_path: Path) -> None:
    messages: list[Message] = []
    gate = Gate(ScriptedGenerator(name="late"))
    app = make_app(tmp_path, loader=gate, model="late-model")
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        assert app.model_loading
        game = app.game
        assert game is not None
        direction = game.exits()[0]
        await type_command(pilot, direction)
        assert app.screen.query_one(SidePanel).texts["room"] == game.room().name
        log = story(app)
        assert log.is_narrating
        assert any(p.has_class("pending") for p in log.paragraphs())
        assert not of_type(messages, StoryLog.NarrationStarted)
        status = app.screen.query_one(StatusBar)
        assert "late-model" in status.plain and "loading" in status.plain
        assert status.region.height == 1  # on screen, not covered by anything
        gate.opened.set()
        await wait_until(pilot, lambda: len(of_type(messages, StoryLog.NarrationCompleted)) >= 2)
        await wait_until(pilot, lambda: bool(of_type(messages, TextGameGenApp.ModelLoaded)))
        assert of_type(messages, TextGameGenApp.ModelLoaded)[0].name == "late"
        assert not app.model_loading
        assert "loading" not in status.plain and "Model late" in status.plain
        assert gate.calls == [("late-model", "cpu")]


async def test_model_load_failure_falls_back_to_template_with_a_notice(tmp_path: Path) -> None:
    messages: list[Message] = []
    missing = tmp_path / "no-such-model"
    app = make_app(tmp_path, model=f"{missing}/")  # the real loader, a missing directory
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        await wait_until(pilot, lambda: bool(of_type(messages, TextGameGenApp.ModelLoaded)))
        failed = of_type(messages, TextGameGenApp.ModelLoadFailed)
        assert len(failed) == 1
        assert "no such model directory" in failed[0].error
        assert app.generator is not None and app.generator.name == "template"
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        await wait_until(pilot, lambda: bool(of_type(messages, StoryLog.NarrationCompleted)))
        # The notice is a toast, not a line of the story (issue 21).
        toasts = [notification.message for notification in app._notifications]
        assert any("could not be loaded" in t and "template narrator" in t for t in toasts)
        assert "could not be loaded" not in story(app).plain_text()


async def test_a_failing_generator_shows_the_engine_text(tmp_path: Path) -> None:
    class Broken(ScriptedGenerator):
        def generate(self, request, on_text=None, cancel=None):
            raise GeneratorError("the model fell over")

    messages: list[Message] = []
    app = make_app(tmp_path, generator=Broken())
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        await wait_until(pilot, lambda: bool(of_type(messages, StoryLog.NarrationFailed)))
        failed = of_type(messages, StoryLog.NarrationFailed)[0]
        assert failed.error == "the model fell over"
        assert failed.job.paragraph.text == failed.job.request.fallback
        await type_command(pilot, "inventory")  # the game goes on
        assert "> inventory" in story(app).plain_text()


async def test_retry_writes_the_last_prose_again(tmp_path: Path) -> None:
    messages: list[Message] = []
    generator = ScriptedGenerator()
    app = make_app(tmp_path, generator=generator)
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        await wait_until(pilot, lambda: bool(of_type(messages, StoryLog.NarrationCompleted)))
        await wait_until(pilot, lambda: not story(app).is_narrating)
        first = generator.calls[-1]
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(generator.calls) == 2)
        again = generator.calls[-1]
        assert again.cache_key == first.cache_key
        assert again.seed != first.seed
        assert "> retry" in story(app).plain_text()


async def test_quit_autosaves_and_exits(tmp_path: Path) -> None:
    app = make_app(tmp_path, generator=ScriptedGenerator())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        assert app.game is not None
        await type_command(pilot, app.game.exits()[0])
        await type_command(pilot, "quit")
        await wait_until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0
    saves = list_saves(tmp_path / "saves")
    assert [info.name for info in saves] == [app.game.saving.autosave_name]
    assert saves[0].name.startswith(AUTOSAVE_NAME) and saves[0].turn == 1


async def test_ctrl_q_autosaves_unsaved_turns(tmp_path: Path) -> None:
    app = make_app(tmp_path, generator=ScriptedGenerator())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        assert app.game is not None
        await type_command(pilot, app.game.exits()[0])
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: app.return_code is not None)
    saves = list_saves(tmp_path / "saves")
    assert [(info.name, info.turn) for info in saves] == [(app.game.saving.autosave_name, 1)]


async def test_title_save_and_load_dialogs_round_trip(tmp_path: Path) -> None:
    app = make_app(tmp_path, generator=ScriptedGenerator(), show_title=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TitleScreen))
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        game = app.game
        assert game is not None
        await type_command(pilot, game.exits()[0])
        room = game.room().name
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, SaveDialog))
        name_field = app.screen.query_one("#save-name")
        name_field.value = "../../evil name"
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        saves = list_saves(tmp_path / "saves")
        assert len(saves) == 1 and "/" not in saves[0].name and saves[0].turn == 1
        await type_command(pilot, "south" if "south" in game.exits() else game.exits()[0])
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, LoadDialog))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen) and app.game is not game)
        assert app.game is not None
        assert app.game.room().name == room
        assert app.game.turn == 1
        assert "Loaded" in story(app).plain_text()
        # The game that was left kept its progress as the autosave.
        autosave = [
            info
            for info in list_saves(tmp_path / "saves")
            if info.name == game.saving.autosave_name
        ]
        assert [info.turn for info in autosave] == [2]


async def test_settings_screen_saves_and_reloads_the_model(tmp_path: Path) -> None:
    messages: list[Message] = []
    loads: list[tuple[str, str]] = []

    def loader(model: str, device: str, settings: Settings) -> Generator:
        loads.append((model, device))
        return ScriptedGenerator(name=model)

    app = make_app(tmp_path, loader=loader)
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        await wait_until(pilot, lambda: bool(of_type(messages, TextGameGenApp.ModelLoaded)))
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen))
        app.screen.query_one("#sampling-top_k").value = "oops"
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, SettingsScreen)  # refused, with the key named
        assert "top_k" in str(app.screen.query_one("#settings-error").render())
        app.screen.query_one("#sampling-top_k").value = "20"
        app.screen.query_one("#setting-device").value = "auto"
        app.screen.query_one("#setting-threads").value = "2"
        tooltip = app.screen.query_one("#settings-form .setting-label").tooltip
        assert tooltip and "registry name" in str(tooltip)  # field docs show as tooltips
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        await wait_until(pilot, lambda: len(of_type(messages, TextGameGenApp.ModelLoaded)) >= 2)
    saved = load_settings(tmp_path / "config.toml")
    assert saved.sampling.top_k == 20
    assert saved.device == "auto"
    assert saved.threads == 2 and saved.dtype == "auto"
    assert loads == [("template", "cpu"), ("template", "auto")]


async def test_command_palette_lists_the_game_entries(tmp_path: Path) -> None:
    app = make_app(tmp_path, generator=ScriptedGenerator())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        await pilot.press("ctrl+p")
        await pilot.press(*"save game")
        await wait_until(pilot, lambda: palette_searched(app, "save game"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, SaveDialog))


def test_keys_and_palette_entries_run_the_apps_own_actions() -> None:
    """The game screen's F1/F3/Ctrl+S/Ctrl+O and the palette name ``app.*`` actions, so
    a key and its palette entry run the same code and the screen forwards nothing."""
    from textual.binding import Binding

    from textgamegen.ui.palette import ENTRIES

    bindings = [b for b in GameScreen.BINDINGS if isinstance(b, Binding)]
    app_actions = {b.action for b in bindings if b.action.startswith("app.")}
    assert {"app.help", "app.settings", "app.save", "app.load"} <= app_actions
    for action in app_actions | {action for _, action, _ in ENTRIES}:
        assert action.startswith("app.")
        assert callable(getattr(TextGameGenApp, f"action_{action[4:]}", None)), action
    for forwarded in ("help", "settings", "save", "load"):
        assert f"action_{forwarded}" not in vars(GameScreen)


async def test_the_palette_opens_help(tmp_path: Path) -> None:
    app = make_app(tmp_path, generator=ScriptedGenerator())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        await pilot.press("ctrl+p")
        await pilot.press(*"help")
        await wait_until(pilot, lambda: palette_searched(app, "help"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))


async def test_settings_offer_installed_models_and_template(player_dirs: Path) -> None:
    (player_dirs / "models" / "mine").mkdir(parents=True)
    choices = {value: label for label, value in model_choices("template")}
    assert "mine" in choices and "(user)" in choices["mine"]
    assert "template" in choices
    # A configured model that is not installed stays selectable rather than vanishing.
    assert "gpt2-medium" in {value for _, value in model_choices("gpt2-medium")}
    app = make_app(player_dirs, generator=ScriptedGenerator())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        await pilot.press("ctrl+p")
        await pilot.press(*"model: mine")
        await wait_until(pilot, lambda: palette_searched(app, "model: mine"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.settings.model == "mine")
    assert load_settings(player_dirs / "config.toml").model == "mine"


async def test_a_broken_save_leaves_the_title_screen_with_the_reason(tmp_path: Path) -> None:
    saves = tmp_path / "saves"
    saves.mkdir()
    (saves / "bad.json").write_text("{not json", encoding="utf-8")
    app = make_app(tmp_path, generator=ScriptedGenerator())
    app.launch.load = "bad"
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TitleScreen))
        notice = str(app.screen.query_one("#title-notice").render())
        assert "'bad'" in notice and "JSON" in notice, "named as asked for, by its name"
        assert str(saves) not in notice
        assert app.game is None
    assert (saves / "bad.json").read_text(encoding="utf-8") == "{not json"


async def test_load_on_the_command_line_opens_the_game(tmp_path: Path) -> None:
    from textgamegen.engine.game import Game
    from textgamegen.engine.saves import save_game

    world = load_world(find_world(DEFAULT_WORLD))
    game = Game.new(world, seed=3)
    game.step(game.exits()[0])
    save_game(game, "mid", tmp_path / "saves")
    app = make_app(tmp_path, generator=ScriptedGenerator())
    app.launch.load = "mid"
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        assert app.game is not None and app.game.turn == 1
        assert app.game.room().name == game.room().name
        text = story(app).plain_text()
        assert "Loaded mid (turn 1)." in text
        assert world.intro not in text  # a reload does not replay the opening


def test_run_tui_refuses_a_bad_world_or_device(capsys: pytest.CaptureFixture[str]) -> None:
    args = Namespace(world="no-such-world", seed=0, load=None, model=None, device=None)
    assert run_tui(args) == 2
    assert "no-such-world" in capsys.readouterr().err
    args = Namespace(world=None, seed=0, load=None, model=None, device="gpu")
    assert run_tui(args) == 2
    assert "--device" in capsys.readouterr().err


def test_broken_settings_are_reported_and_defaults_used(player_dirs: Path) -> None:
    (player_dirs / "config.toml").write_text("device = 'quantum'\n", encoding="utf-8")
    args = Namespace(world=None, seed=5, load=None, model="template", device=None, saves_dir=None)
    launch = _launch_from_args(args)
    assert launch.settings == Settings()
    assert launch.model == "template" and launch.device == "auto" and launch.seed == 5
    assert launch.saves_dir == player_dirs / "saves"
    assert len(launch.notices) == 1 and "config.toml" in launch.notices[0]


async def test_help_and_model_panel_keys(tmp_path: Path) -> None:
    app = make_app(tmp_path, generator=ScriptedGenerator(), show_title=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TitleScreen))
        await pilot.press("c")  # no autosave yet: Continue is refused
        assert isinstance(app.screen, TitleScreen)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        panel = app.screen.query_one(ModelPanel)
        assert not panel.display, "off by default: a tool for modders"
        await pilot.press("f2")
        assert panel.display and app.settings.show_model_panel
        await pilot.press("f2")
        assert not panel.display and not app.settings.show_model_panel
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        bindings = {binding.id: binding for _, binding, *_ in app.screen.active_bindings.values()}
        for key in ("game.help", "game.model_panel", "game.save", "game.load", "app.quit"):
            assert bindings[key].tooltip, key


def test_the_ui_imports_neither_torch_nor_transformers() -> None:
    import subprocess
    import sys

    code = (
        "import sys, textgamegen.ui.app, textgamegen.commands.play; "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
async def test_the_walkthrough_wins_through_the_tui(tmp_path: Path) -> None:
    script = Path(__file__).with_name("walkthrough.txt").read_text(encoding="utf-8")
    commands = [
        line.strip()
        for line in script.splitlines()
        if line.strip() and not line.strip().startswith(("#", "?"))
    ]
    app = make_app(tmp_path, generator=ScriptedGenerator())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        field = app.screen.query_one(CommandInput)
        for command in commands:
            field.value = command
            await pilot.press("enter")
        await wait_until(pilot, lambda: not story(app).is_narrating, timeout=30)
        assert app.game is not None and app.game.won
        assert any(p.has_class("event-won") for p in story(app).paragraphs())
        quests = app.screen.query_one(SidePanel).texts["quests"].splitlines()
        assert quests and all(line.startswith("✔") for line in quests)
