"""A new player's play, the TUI side: help, model panel, pinned story, toasts, Tab, quitting fast,
autosaves per game, switches in words, the map, and the world's own narrator."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path

import pytest
from fakes import ScriptedGenerator
from pilot_helpers import make_app, of_type, story, type_command, wait_until
from textual import events
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Input, Label, Switch
from textual.widgets._toast import Toast

from textgamegen.config import Settings, narrator_for, save_settings
from textgamegen.engine.content import ContentKind, ContentRequest
from textgamegen.engine.parser import VERBS
from textgamegen.engine.saves import AUTOSAVE_NAME, is_autosave, latest_autosave, list_saves
from textgamegen.narration.generator import Narration
from textgamegen.ui.app import _launch_from_args
from textgamegen.ui.screens.game import GameScreen
from textgamegen.ui.screens.help import HelpScreen, help_text
from textgamegen.ui.screens.saves import SaveDialog
from textgamegen.ui.screens.settings import SettingsScreen
from textgamegen.ui.screens.title import TitleScreen
from textgamegen.ui.widgets.command_input import CommandInput
from textgamegen.ui.widgets.model_panel import ModelPanel, render_narration, without_special_tokens
from textgamegen.ui.widgets.side_panel import SidePanel
from textgamegen.ui.widgets.status_bar import StatusBar

REPO = Path(__file__).resolve().parents[2]


async def game_screen(pilot) -> GameScreen:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, GameScreen))
    return pilot.app.screen


# -- help ------------------------------------------------------------------------------


def test_help_command_table_is_built_from_the_verb_table() -> None:
    text = help_text(VERBS)
    for verb in VERBS:
        usage = (verb.help.partition(": ")[0] or verb.words[0]).partition(" (")[0]
        assert f"`{usage}`" in text, verb.action
        assert all(f"`{word}`" in text or word in text for word in verb.words), verb.action
    assert "`hint`" in text and "`buy THING`" in text and "`map`" in text


async def test_help_scrolls_with_keys_and_the_wheel(tmp_path: Path) -> None:
    app = make_app(tmp_path, generator=ScriptedGenerator())
    async with app.run_test(size=(120, 40)) as pilot:
        await game_screen(pilot)
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        scroll = app.screen.query_one("#help-scroll", VerticalScroll)
        await wait_until(pilot, lambda: scroll.max_scroll_y > 0)
        assert scroll.scroll_y == 0
        await pilot.press("pagedown")
        await wait_until(pilot, lambda: scroll.scroll_y > 0)
        page = scroll.scroll_y
        await pilot.press("pageup")
        await wait_until(pilot, lambda: scroll.scroll_y == 0)
        await pilot.press("down", "down")
        await wait_until(pilot, lambda: 0 < scroll.scroll_y < page)
        await pilot.press("end")
        await wait_until(pilot, lambda: scroll.scroll_y == scroll.max_scroll_y)
        await pilot.press("home")
        await wait_until(pilot, lambda: scroll.scroll_y == 0)
        scroll.post_message(
            events.MouseScrollDown(
                scroll, 10, 5, 0, 0, 0, False, False, False, screen_x=10, screen_y=5
            )
        )
        await wait_until(pilot, lambda: scroll.scroll_y > 0)
        # The Keys table, once hidden below "give X to Y", is on the page.
        assert "Ctrl+Q" in app.screen.text


async def test_help_lists_the_worlds_own_verbs(tmp_path: Path) -> None:
    app = make_app(tmp_path, generator=ScriptedGenerator())
    async with app.run_test(size=(120, 40)) as pilot:
        await game_screen(pilot)
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert "`light`" in app.screen.text and "`strike`" in app.screen.text


# -- model panel --------------------------------------------------------------------------


async def test_model_panel_is_off_by_default_and_f2_shows_it(tmp_path: Path) -> None:
    assert Settings().show_model_panel is False
    app = make_app(tmp_path, generator=ScriptedGenerator())
    app.settings = Settings(model="template", device="cpu", prefetch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await game_screen(pilot)
        panel = screen.query_one(ModelPanel)
        assert not panel.display
        await pilot.press("f2")
        assert panel.display


PROMPT = "<|im_start|>system\nYou narrate.<|im_end|>\n<|im_start|>user\n<|action|> look</s>"


def test_prompt_shown_without_special_tokens_unless_asked() -> None:
    assert without_special_tokens(PROMPT) == "system\nYou narrate.\nuser\nlook"
    request = ContentRequest(ContentKind.ACTION, subject="look")
    narration = Narration(request, "You look.", prompt=PROMPT)

    def plain(raw: bool) -> str:
        import io

        from rich.console import Console

        out = io.StringIO()
        Console(width=200, file=out, color_system=None).print(
            render_narration(narration, raw_prompt=raw)
        )
        return out.getvalue()

    assert "<|im_start|>" not in plain(False) and "You narrate." in plain(False)
    assert "<|im_start|>" in plain(True)


# -- the story stays on its newest line ------------------------------------------------------


async def test_story_stays_pinned_after_f2_dialogs_and_resize(tmp_path: Path) -> None:
    app = make_app(tmp_path, generator=ScriptedGenerator())
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await game_screen(pilot)
        log = story(app)
        for command in ("look", "w", "e", "look", "x crate", "n", "look"):
            await type_command(pilot, command)
        await wait_until(pilot, lambda: not log.is_narrating and log.max_scroll_y > 0)

        def pinned() -> bool:
            return log.scroll_y == log.max_scroll_y

        def resized(before: object) -> Callable[[], bool]:
            return lambda: log.size != before

        await wait_until(pilot, pinned)
        before = log.size
        await pilot.press("f2")  # the model panel takes room from the story
        await wait_until(pilot, resized(before))
        await wait_until(pilot, pinned)
        before = log.size
        await pilot.press("f2")
        await wait_until(pilot, resized(before))
        await wait_until(pilot, pinned)
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen))
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)
        await pilot.pause()  # until the app is idle: the screen's resume has run
        await wait_until(pilot, pinned)
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: app.screen is not screen)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)
        await pilot.pause()
        await wait_until(pilot, pinned)
        before = log.size
        await pilot.resize_terminal(80, 20)
        await wait_until(pilot, resized(before))
        await wait_until(pilot, pinned)


# -- toasts ---------------------------------------------------------------------------------


async def test_win_toast_shows_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(tmp_path, generator=ScriptedGenerator())
    toasts: list[str] = []
    original = app.notify

    def notify(message: str, *args, **kwargs) -> None:
        toasts.append(message)
        original(message, *args, **kwargs)

    monkeypatch.setattr(app, "notify", notify)
    async with app.run_test(size=(120, 40)) as pilot:
        await game_screen(pilot)
        game = app.game
        assert game is not None
        game.state.room = "lamp_room"
        game.state.quests["remedy"] = "done"
        for key in ("lamp_oil", "wick", "lens"):
            game.state.locations[key] = "great_lantern"
        game.state.locations["tinderbox"] = "player"
        for command in ("light lantern", "look", "wait", "inventory"):
            await type_command(pilot, command)
        assert game.won
        assert sum("You have won" in text for text in toasts) == 1


async def test_toasts_do_not_cover_the_status_bar(tmp_path: Path) -> None:
    app = make_app(tmp_path, generator=ScriptedGenerator())
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await game_screen(pilot)
        app.notify("A long notice that takes a few lines to say what it has to say " * 2)
        await wait_until(
            pilot,
            lambda: (
                bool(screen.query(Toast))
                and all(toast.region.height for toast in screen.query(Toast))
            ),
        )
        bar = screen.query_one(StatusBar).region
        for toast in screen.query(Toast):
            assert not toast.region.overlaps(bar), (toast.region, bar)


# -- Tab completion --------------------------------------------------------------------------


async def test_tab_completes_topics_without_double_spaces_or_lost_words(tmp_path: Path) -> None:
    messages: list[Message] = []
    app = make_app(tmp_path, generator=ScriptedGenerator())
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        screen = await game_screen(pilot)
        assert app.game is not None
        app.game.state.room = "cottage"
        field = screen.query_one(CommandInput)
        await pilot.press(*"ask kee", "tab")
        assert field.value == "ask Keeper Aldous "
        await pilot.press("space")  # a habit after a completed word: no double space
        assert field.value == "ask Keeper Aldous "
        await pilot.press(*"about li", "tab")
        assert field.value == "ask Keeper Aldous about light "
        field.value = "ask aldous about "
        field.cursor_position = len(field.value)
        await pilot.press("tab")
        offered = of_type(messages, CommandInput.CompletionsOffered)[-1].options
        assert offered == ("key", "lens", "light", "storm"), "topics, not exits and items"
        field.value = ""
        await pilot.press(*"ask kee", "tab", *"about the lighthouse", "enter")
        entered = of_type(messages, CommandInput.CommandEntered)[-1].command
        assert entered == "ask Keeper Aldous about the lighthouse"


# -- leaving ----------------------------------------------------------------------------------

QUIT_SCRIPT = textwrap.dedent(
    """
    import sys, threading, time
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from pilot_helpers import wait_until
    from textgamegen.config import Settings
    from textgamegen.engine.world import load_world
    from textgamegen.engine.worlds import find_world
    from textgamegen.ui.app import Launch, TextGameGenApp, run_app, template_generator
    from textgamegen.ui.screens.game import GameScreen
    from textgamegen.ui.widgets.story_log import StoryLog

    def slow_loader(model, device, settings):
        threading.Event().wait()  # a model that is still loading when the player quits
        return template_generator()

    launch = Launch(world=load_world(find_world("lanternfall")),
                    settings=Settings(model="slow", prefetch=False),
                    saves_dir=Path({saves!r}), model="slow", device="cpu")
    app = TextGameGenApp(launch, loader=slow_loader, show_title=False)

    async def autopilot(pilot):
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, GameScreen))
        await pilot.press(*"north", "enter")
        log = pilot.app.screen.query_one(StoryLog)
        await wait_until(pilot, lambda: "> north" in log.plain_text())
        print("PRESSED", time.time(), flush=True)
        await pilot.press("ctrl+q")

    run_app(app, headless=True, auto_pilot=autopilot)
    """
)


def test_ctrl_q_leaves_while_a_model_still_loads_and_saves_first(tmp_path: Path) -> None:
    """The model never finishes loading, so the process ending at all shows that leaving
    does not wait for it (its time is printed; speed is measured in bench/, not here)."""
    saves = tmp_path / "saves"
    script = QUIT_SCRIPT.format(tests=str(Path(__file__).parent), saves=str(saves))
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    ended = time.time()
    assert done.returncode == 0, done.stderr[-2000:]
    pressed = float(done.stdout.split("PRESSED")[1].split()[0])
    took = ended - pressed
    print(f"Ctrl+Q to process exit: {took * 1000:.0f} ms (run {ended - started:.1f} s)")
    autosaves = [info for info in list_saves(saves) if is_autosave(info.name)]
    assert len(autosaves) == 1 and autosaves[0].turn == 1, "saved before leaving"


# -- autosaves per game ------------------------------------------------------------------------


async def test_a_new_game_never_overwrites_another_games_autosave(tmp_path: Path) -> None:
    app = make_app(tmp_path, generator=ScriptedGenerator(), show_title=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TitleScreen))
        await pilot.press("n")
        await game_screen(pilot)
        for command in ("w", "take all", "e"):
            await type_command(pilot, command)
        first = app.game
        assert first is not None and first.turn == 3
        app.action_new_game()  # the first game is saved to its own slot as it is left
        await wait_until(pilot, lambda: app.game is not first)
        await game_screen(pilot)
        await type_command(pilot, "n")
        second = app.game
        assert second is not None
        app.action_quit()  # leaving saves the second game too
    saves = {info.name: info for info in list_saves(tmp_path / "saves")}
    assert first.saving.autosave_name in saves, sorted(saves)
    assert saves[first.saving.autosave_name].turn == 3, "the first game's autosave survived"
    assert saves[second.saving.autosave_name].turn == 1
    assert first.saving.autosave_name != second.saving.autosave_name
    latest = latest_autosave(tmp_path / "saves")
    assert latest is not None and latest.name == second.saving.autosave_name

    # "Continue" opens the newest autosave.
    again = make_app(tmp_path, generator=ScriptedGenerator(), show_title=True)
    async with again.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(again.screen, TitleScreen))
        await pilot.press("c")
        await game_screen(pilot)
        assert again.game is not None
        assert again.game.saving.autosave_name == second.saving.autosave_name
        assert again.game.room().key == "square"


async def test_each_new_game_draws_its_own_seed_and_the_journal_shows_it(
    tmp_path: Path, player_dirs: Path
) -> None:
    assert _launch_from_args(Namespace(world=None, model="template", device=None)).seed is None
    assert _launch_from_args(Namespace(world=None, seed=3, model=None, device=None)).seed == 3
    app = make_app(tmp_path, generator=ScriptedGenerator(), show_title=True)
    app.launch.seed = None  # as `textgamegen play` without --seed
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TitleScreen))
        await pilot.press("n")
        await game_screen(pilot)
        first = app.game
        assert first is not None
        app.action_new_game()
        await wait_until(pilot, lambda: app.game is not first)
        await game_screen(pilot)
        second = app.game
        assert second is not None and second.seed != first.seed
        await type_command(pilot, "journal")
        await wait_until(pilot, lambda: f"Story seed: {second.seed}." in story(app).plain_text())
        app.action_quit()


async def test_ctrl_s_and_load_name_saves_by_their_name(tmp_path: Path) -> None:
    app = make_app(tmp_path, generator=ScriptedGenerator())
    async with app.run_test(size=(120, 40)) as pilot:
        await game_screen(pilot)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, SaveDialog))
        app.screen.query_one("#save-name", Input).value = "Harbour Walk"
        await pilot.press("enter")
        await game_screen(pilot)
        await type_command(pilot, "save harbour walk")
        await type_command(pilot, "load nosuchsave")
        await wait_until(pilot, lambda: "nosuchsave" in story(app).plain_text())
        text = story(app).plain_text()
        assert text.count("Saved as 'harbour-walk' (harbour-walk.json).") == 2, text
        assert "Not loaded: 'nosuchsave': no such save" in text
        assert str(tmp_path) not in text, "no folder paths in the story"


async def test_old_single_autosave_still_continues(tmp_path: Path) -> None:
    from textgamegen.engine.game import Game
    from textgamegen.engine.saves import save_game
    from textgamegen.engine.world import load_world
    from textgamegen.engine.worlds import find_world

    old = Game.new(load_world(find_world("lanternfall")), autosave=False)
    old.step("n")
    save_game(old, AUTOSAVE_NAME, tmp_path / "saves")
    app = make_app(tmp_path, generator=ScriptedGenerator(), show_title=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TitleScreen))
        await pilot.press("c")
        await game_screen(pilot)
        assert app.game is not None and app.game.room().key == "square"


# -- settings switches say their state ------------------------------------------------------------


async def test_settings_switches_show_their_state_in_words(tmp_path: Path) -> None:
    app = make_app(tmp_path, generator=ScriptedGenerator())
    async with app.run_test(size=(120, 40)) as pilot:
        await game_screen(pilot)
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen))
        screen = app.screen
        state = screen.query_one("#setting-prefetch-state", Label)
        assert str(state.render()).strip() == "✘ off"  # make_app turns prefetch off
        screen.query_one("#setting-prefetch", Switch).toggle()
        await wait_until(pilot, lambda: str(state.render()).strip() == "✔ on")
        words = {
            str(label.render()).strip() for label in screen.query(".switch-state").results(Label)
        }
        assert words <= {"✔ on", "✘ off"}
        assert len(screen.query(".switch-state")) == len(screen.query(Switch))


# -- the map ------------------------------------------------------------------------------


async def test_side_panel_map_follows_the_player(tmp_path: Path) -> None:
    app = make_app(tmp_path, generator=ScriptedGenerator())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await game_screen(pilot)
        side = screen.query_one(SidePanel)
        assert "<Quay  >" in side.texts["map"] and "Square" not in side.texts["map"]
        await type_command(pilot, "n")
        assert "<Square>" in side.texts["map"] and "[Quay  ]" in side.texts["map"]
        assert all(len(line) <= 28 for line in side.texts["map"].splitlines())
        await type_command(pilot, "map")
        assert "<Square>" in story(app).plain_text()


# -- the world's narrator -----------------------------------------------------------------


def test_a_world_is_narrated_by_its_own_narrator_unless_the_player_chose() -> None:
    default = Settings()
    assert narrator_for("alice", default) == "alice"
    assert narrator_for("", default) == default.model
    assert narrator_for("alice", default, "template") == "template"
    assert narrator_for("alice", Settings(model="mine")) == "mine"


def test_the_tui_and_play_pick_the_worlds_narrator(player_dirs: Path) -> None:
    launch = _launch_from_args(Namespace(world="wonderland", model=None, device=None))
    assert launch.model == "alice"
    launch = _launch_from_args(Namespace(world="lanternfall", model=None, device=None))
    assert launch.model == Settings().model
    launch = _launch_from_args(Namespace(world="wonderland", model="template", device=None))
    assert launch.model == "template"
    save_settings(Settings(model="template"))
    launch = _launch_from_args(Namespace(world="wonderland", model=None, device=None))
    assert launch.model == "template"


def test_play_script_uses_the_worlds_narrator(
    player_dirs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textgamegen.commands import play

    asked: list[str] = []

    def fake_loader(settings, name, **options):
        asked.append(name)
        raise RuntimeError("no model in this test")

    import textgamegen.models.loader as loader

    monkeypatch.setattr(loader, "load_from_settings", fake_loader)
    play._generator(None, None, "alice")
    assert asked == ["alice"]


def test_save_files_are_json(tmp_path: Path) -> None:
    # The autosave slot name is safe as a file name (letters, digits and dashes).
    from textgamegen.engine.saves import new_autosave_name, save_name

    for world in ("wonderland", "lanternfall", "A Very_Long World Name!"):
        name = new_autosave_name(world)
        assert save_name(name) == name and is_autosave(name)
    assert json.dumps(name)
