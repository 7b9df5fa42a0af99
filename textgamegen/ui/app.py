"""The TextGameGen Textual app, and ``run_tui``, which the ``play`` command calls.

The app owns what outlives one game: the settings, the saves folder and the generator.
The generator is loaded in a thread worker (group "model") so the title screen and the
game are usable at once; torch and transformers are imported only inside that worker.
Until it is ready, prose requests wait in the story log's queue; if loading fails, the
player is told why and the template narrator takes over. The app also owns the feedback
recorder (``textgamegen.feedback``), started when a game is first shown, if the settings
record feedback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import messages, on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from textgamegen import paths
from textgamegen.config import (
    DEVICES,
    Settings,
    SettingsError,
    game_settings,
    narrator_for,
    one_of,
)
from textgamegen.endpoint import is_model_url
from textgamegen.engine.content import Event, EventKind, StepResult
from textgamegen.narration.generator import Generator, GeneratorError
from textgamegen.paths import for_player
from textgamegen.safe_text import strip_unsafe
from textgamegen.ui.palette import GamePalette
from textgamegen.ui.screens.game import GameScreen
from textgamegen.ui.screens.help import HelpScreen
from textgamegen.ui.screens.saves import LoadDialog, SaveDialog
from textgamegen.ui.screens.settings import SettingsScreen
from textgamegen.ui.screens.title import TitleScreen
from textgamegen.ui.widgets.model_panel import ModelPanel
from textgamegen.ui.widgets.status_bar import MODEL_TROUBLE

if TYPE_CHECKING:
    from textgamegen.engine.game import Game
    from textgamegen.engine.saves import SaveInfo
    from textgamegen.engine.world import World
    from textgamegen.feedback.recorder import Recorder

NOTICE_S = 5.0
"""How long a notice's toast stays."""

WARNING_S = 12.0
"""How long a warning's toast stays (a fallback narrator, a failed load): long enough to
read, since it is not written into the story."""

TEMPLATE_WORD_DELAY_S = 0.02
"""The template narrator is instant; a short pause per word lets the player see it stream."""

GeneratorLoader = Callable[[str, str, Settings], Generator]
"""(model, device, settings) -> a ready generator; raises GeneratorError.

The model and device are passed apart because ``--model``/``--device`` override the
settings for one session; the rest (sampling, dtype, threads, ...) comes from settings.
"""

RECORDED = (
    "This host keeps what you type and what the narrator writes (no name, no address) to "
    "improve the narrator. Turn 'record feedback' off in Settings to stop it."
)
"""What a web player is told on the title screen while their feedback is recorded."""

UI_ONLY_SETTINGS = (
    "theme",
    "note",
    "show_model_panel",
    "show_special_tokens",
    "autosave_every",
    "prefetch",
    "record_feedback",
    "max_bad_rate",
)
"""Settings that change nothing in the generator, so changing them needs no reload."""


def load_generator_in_worker(
    model: str, device: str, settings: Settings, progress: Callable[[str], None] | None = None
) -> Generator:
    """The real loader. Runs in the model worker: heavy imports happen here, never at start.
    ``progress`` hears about slow first-run steps (unpacking the base model)."""
    from textgamegen.models.loader import load_from_settings

    if model != "template" and not is_model_url(model):  # a model server: no torch
        try:
            from transformers.utils import logging as hf_logging

            # Progress bars write to the terminal behind Textual's back and garble the screen.
            hf_logging.disable_progress_bar()
        except ImportError:
            pass
    from textgamegen.narration.template import TemplateGenerator

    generator = load_from_settings(replace(settings, device=device), model, progress)
    if isinstance(generator, TemplateGenerator):
        return template_generator()  # the one that streams slowly enough to be seen
    return generator


def template_generator() -> Generator:
    from textgamegen.narration.template import TemplateGenerator

    return TemplateGenerator(word_delay_s=TEMPLATE_WORD_DELAY_S)


@dataclass
class Launch:
    """Everything ``run_tui`` worked out from the command line and the settings.

    Attributes:
        world: the world a new game is played in.
        settings: the player's settings (defaults when the file was broken).
        saves_dir: where saves are read and written.
        seed: the seed of a new game (``--seed``); None draws a fresh one per game.
        model: the generator to load (``--model`` or the settings).
        device: one of ``config.DEVICES``.
        load: a save to open at once instead of showing the title screen.
        notices: messages for the player (a broken settings file, ...).
        world_chosen: the player named the world (``--world``): Continue then opens only
            that world's autosaves; otherwise the newest game of any world.
        record: False (``--no-feedback``) records no feedback this session, whatever the
            settings say (and leaves the saved settings as they are).
    """

    world: World
    settings: Settings
    saves_dir: Path
    seed: int | None = None
    model: str = "template"
    device: str = "auto"
    load: str | None = None
    notices: list[str] = field(default_factory=list)
    world_chosen: bool = False
    record: bool = True


class TextGameGenApp(App[int]):
    """Title screen, game screen and dialogs over one engine ``Game`` at a time."""

    # Absolute, so subclasses (tests) defined elsewhere still find the stylesheet.
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "TextGameGen"
    COMMANDS = App.COMMANDS | {GamePalette}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+q",
            "quit",
            "Quit",
            tooltip="Leave the game; it autosaves first",
            id="app.quit",
            priority=True,
        ),
    ]

    generator: reactive[Generator | None] = reactive(None, init=False)
    """The narrator in use; None while the model is loading."""
    model_label: reactive[str] = reactive("")
    device_label: reactive[str] = reactive("")
    model_loading: reactive[bool] = reactive(False)
    model_trouble: reactive[str] = reactive("")
    """Why the model is not writing the story now ("" while it is): a model server that
    does not answer. The status bar and the title screen say it for as long as it lasts."""
    model_progress: reactive[str] = reactive("")
    """What the model loader is doing now ("Checking ...gguf", "Merging the alice
    adapter..."), for the status bar and the title screen; "" when it says nothing."""

    @dataclass
    class ModelLoaded(Message):
        """The generator is ready (possibly the template fallback after a failure)."""

        name: str
        backend: str
        device: str

    @dataclass
    class ModelLoadFailed(Message):
        """Loading the model failed; the template narrator took over."""

        model: str
        error: str

    def __init__(
        self,
        launch: Launch,
        *,
        loader: GeneratorLoader | None = None,
        generator: Generator | None = None,
        show_title: bool | None = None,
    ) -> None:
        """Args:
        launch: what to play and how.
        loader: loads a generator in the model worker (the real loader by default).
        generator: a ready generator; skips loading (tests use it).
        show_title: start on the title screen; by default only without ``launch.load``.
        """
        super().__init__()
        self.launch = launch
        self.settings = launch.settings
        self.saves_dir = launch.saves_dir
        try:
            from textgamegen.engine.saves import clean_saves_folder

            clean_saves_folder(self.saves_dir)
        except OSError:
            pass  # a folder we cannot tidy still plays
        self.game: Game | None = None
        self._loader = loader or load_generator_in_worker
        self._ready_generator = generator
        self._show_title = (launch.load is None) if show_title is None else show_title
        self._requested_model = launch.model
        self._requested_device = launch.device
        self._notices: list[str] = [for_player(notice) for notice in launch.notices]
        self._recorder: Recorder | None = None
        self.hosted = paths.hosted()
        """A web player's game (``serve``): the model, the device and the host's settings
        file are not theirs to change, and they are told what is recorded."""
        self._left = False
        """The game was saved on the way out (quit, or the browser tab closed)."""

    @property
    def recorder(self) -> Recorder | None:
        """The feedback recorder (started on first use), or None when recording is off."""
        recording = self.launch.record and self.settings.record_feedback
        if recording and self._recorder is None:
            from textgamegen.feedback.recorder import Recorder

            self._recorder = Recorder()
        return self._recorder if recording else None

    # -- start-up ----------------------------------------------------------------------

    def on_mount(self) -> None:
        self.theme = self.settings.theme
        if self._ready_generator is not None:
            self._use_generator(self._ready_generator)
        else:
            self.load_model(self._requested_model, self._requested_device)
        if self.launch.load and self._open_save(self.launch.load):
            return
        # A save that would not load sends the player to the title, where the reason shows.
        if self._show_title or self.launch.load:
            self._show_title_screen()
        else:
            self.action_new_game()

    def _show_title_screen(self) -> None:
        if self.hosted and self.settings.record_feedback and RECORDED not in self._notices:
            self._notices.append(RECORDED)
        notice = "\n".join(self._notices)
        self._notices = []
        latest = self._autosave_to_continue()
        # Continue says what it opens: without --world, it may be another world's game.
        where = f"{latest.title or latest.world}, turn {latest.turn}" if latest else ""
        self.push_screen(TitleScreen(self.launch.world.title, latest is not None, notice, where))

    def _continue_world(self) -> str | None:
        """The world whose autosaves Continue opens: the one named with ``--world``, or
        None for the newest game of any world."""
        return self.launch.world.name if self.launch.world_chosen else None

    def _autosave_to_continue(self) -> SaveInfo | None:
        """What Continue opens: the newest autosave of ``_continue_world``, or None."""
        try:
            from textgamegen.engine.saves import latest_autosave

            return latest_autosave(self.saves_dir, self._continue_world())
        except OSError:  # an unreadable folder just means no autosave
            return None

    def _has_autosave(self) -> bool:
        return self._autosave_to_continue() is not None

    # -- the generator -----------------------------------------------------------------

    def load_model(self, model: str, device: str) -> None:
        """Start (or restart) loading a generator; prose waits until it is ready."""
        self._requested_model = model
        self._requested_device = device
        self.generator = None
        self.model_label = for_player(model)
        self.device_label = for_player(device)
        self.model_progress = ""
        self.model_loading = True
        self._load_model_worker(model, device, self.settings)

    @work(thread=True, exclusive=True, exit_on_error=False, group="model", name="load model")
    def _load_model_worker(self, model: str, device: str, settings: Settings) -> Generator:
        if self._loader is load_generator_in_worker:
            # The first run unpacks the base (half a minute): say so, not a silent spinner.
            # The status bar and the title screen say it; the story is no place for it.
            def progress(text: str) -> None:
                self.call_from_thread(self._loading_step, text)

            return load_generator_in_worker(model, device, settings, progress)
        return self._loader(model, device, settings)

    def _loading_step(self, text: str) -> None:
        if self.model_loading:  # a step heard after the model is ready says nothing
            self.model_progress = strip_unsafe(text).strip()

    def _use_generator(self, generator: Generator) -> None:
        self.model_progress = ""
        self.model_loading = False
        # A hosted player sees the model's name, never the model server's address.
        self.model_label = for_player(strip_unsafe(generator.name))
        self.device_label = for_player(strip_unsafe(generator.device))
        self.generator = generator
        notice = strip_unsafe(generator.notice)
        # A model server that did not answer at start: the template writes until it does.
        self.model_trouble = MODEL_TROUBLE if notice and generator.backend == "openai" else ""
        if notice:
            self.tell(notice, severity="warning")
        self.post_message(self.ModelLoaded(self.model_label, generator.backend, self.device_label))

    def _model_failed(self, error: BaseException | None) -> None:
        if isinstance(error, GeneratorError):
            reason = str(error)
        else:
            reason = f"{type(error).__name__}: {error}"
        model = for_player(self._requested_model)
        notice = (
            f"The model {model!r} could not be loaded: {reason} "
            "Playing on with the template narrator."
        )
        self.post_message(self.ModelLoadFailed(model, reason))
        self.tell(notice, severity="warning")
        self._use_generator(template_generator())

    def switch_model(self, model: str) -> None:
        """Narrate with another model from now on, and remember the choice. Not in a
        hosted game: the host's model narrates every web player's game."""
        from textgamegen.config import save_settings

        if self.hosted:
            self.tell("The model is the host's to choose.", severity="warning")
            return
        self.settings.model = model
        try:
            save_settings(self.settings)
        except (OSError, SettingsError) as error:
            self.tell(f"Settings not saved: {error}", severity="warning")
        self.load_model(model, self.settings.device)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        # The palette's own "Theme: NAME" entries keep the choice in the settings and offer
        # only themes the story's styles read well in; Textual's picker would do neither.
        for command in super().get_system_commands(screen):
            if command.title != "Theme":
                yield command

    def choose_theme(self, theme: str) -> None:
        """Colour the game with another theme from now on, and remember the choice."""
        from textgamegen.config import save_settings

        self.theme = theme
        self.settings.theme = theme
        try:
            save_settings(self.settings)
        except (OSError, SettingsError) as error:
            self.tell(f"Settings not saved: {error}", severity="warning")

    @on(Worker.StateChanged)
    def _worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker outcomes and faults are reported."""
        worker = event.worker
        if worker.group == "model":
            if event.state == WorkerState.SUCCESS and worker.result is not None:
                self._use_generator(worker.result)
            elif event.state == WorkerState.ERROR:
                self._model_failed(worker.error)
        elif event.state == WorkerState.ERROR:
            self.tell(f"{worker.name or worker.group} failed: {worker.error}", severity="error")

    # -- telling the player ------------------------------------------------------------

    def tell(self, message: str, severity: SeverityLevel = "information") -> None:
        """Show a notice (the narrator fell back, a setting was not saved, recording
        stopped) as a toast: never in the story, which is the game's own text. In a
        hosted game the host's folders are left out (``paths.for_player``)."""
        timeout = NOTICE_S if severity == "information" else WARNING_S
        text = for_player(strip_unsafe(message))
        self.notify(text, severity=severity, markup=False, timeout=timeout)

    def report(self, message: str, severity: SeverityLevel = "information") -> None:
        """The outcome of a save or load the player asked for with a key (Ctrl+S, Ctrl+O):
        in the story when a game is on screen, as "save NAME" and "load NAME" answer
        there; on the title screen otherwise. A toast too."""
        message = for_player(strip_unsafe(message))
        screen = self._game_screen()
        if screen is not None:
            screen.add_notice(message)
        elif isinstance(self.screen, TitleScreen):
            self.screen.show_notice(message)
        else:  # the title screen, about to be shown, shows it
            self._notices.append(message)
        self.tell(message, severity)

    def _game_screen(self) -> GameScreen | None:
        for screen in reversed(self.screen_stack):
            if isinstance(screen, GameScreen):
                return screen
        return None

    # -- games -------------------------------------------------------------------------

    def start_game(self, game: Game, opening: list[StepResult] | None = None) -> None:
        """Show a game on the game screen, replacing the title or the previous game."""
        # The game being left keeps its progress (as the autosave) before it goes.
        self._autosave_before_leaving()
        self.game = game
        # Notices no title screen showed (a broken settings file, when a save opens at
        # once) are toasts: the story holds only the game's own text.
        for notice in self._notices:
            self.tell(notice, severity="warning")
        self._notices = []
        screen = GameScreen(game, opening=list(opening or []))
        if isinstance(self.screen, (TitleScreen, GameScreen)):
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def action_new_game(self) -> None:
        from textgamegen.engine.game import Game

        game = Game.new(
            self.launch.world,
            seed=self.launch.seed,
            saves_dir=self.saves_dir,
            autosave_every=self.settings.autosave_every,
        )
        game.set_note(self.settings.note)
        self.start_game(game, opening=[game.intro()])

    def _open_save(self, name: str) -> bool:
        """Load a save and play it; on failure tell the player and return False."""
        from textgamegen.engine.game import Game
        from textgamegen.engine.saves import SaveError

        try:
            game = Game.load(name, self.saves_dir)
        except (SaveError, OSError) as error:
            # The error names the save as it was asked for (its name, or the path given).
            self.report(f"Not loaded: {error}", severity="error")
            return False
        game.saving.autosave_every = self.settings.autosave_every
        loaded = StepResult(
            "", events=[Event(EventKind.SYSTEM, f"Loaded {name} (turn {game.turn}).")]
        )
        where = game.intro()
        # The world's introduction belongs to a new game, not to every reload.
        where.events = [
            event
            for event in where.events
            if not (event.kind == "system" and event.text == game.world.intro)
        ]
        self.start_game(game, opening=[loaded, where])
        return True

    def action_continue(self) -> None:
        """Open the newest autosave: of the world named with ``--world``, else of any."""
        from textgamegen.engine.saves import latest_autosave

        latest = latest_autosave(self.saves_dir, self._continue_world())
        if latest is None:
            self.notify("There is no autosave yet.", severity="warning")
            return
        self._open_save(latest.name)

    def action_load(self) -> None:
        def chosen(name: str | None) -> None:
            if name:
                self._open_save(name)

        self.push_screen(LoadDialog(self.saves_dir), chosen)

    def action_save(self) -> None:
        game = self.game
        if game is None or self._game_screen() is None:
            self.notify("Start or load a game first.", severity="warning")
            return

        def chosen(name: str | None) -> None:
            from textgamegen.engine.saves import SaveError, save_game, saved_text

            if not name:
                return
            try:
                path = save_game(game, name, self.saves_dir)
            except (SaveError, OSError) as error:
                self.report(f"Could not save: {error}", severity="error")
                return
            # By its name, as "save NAME" says it, not by its full path.
            self.report(saved_text(path))

        self.push_screen(SaveDialog(f"{game.world.name}-turn-{game.turn}"), chosen)

    def action_settings(self) -> None:
        def chosen(settings: Settings | None) -> None:
            if settings is not None:
                self.apply_settings(settings)

        screen = SettingsScreen(
            self.settings, hosted=self.hosted, player_file=paths.player_settings_file()
        )
        self.push_screen(screen, chosen)

    def apply_settings(self, settings: Settings) -> None:
        """Use new settings; reload the generator when anything it depends on changed."""
        old = self.settings
        self.settings = settings
        self.theme = settings.theme
        screen = self._game_screen()
        if screen is not None:
            screen.set_model_panel(settings.show_model_panel)
            screen.query_one(ModelPanel).show_special_tokens = settings.show_special_tokens
            if not settings.prefetch:
                screen.cancel_prefetch()
        if self.game is not None:
            self.game.saving.autosave_every = settings.autosave_every
        if screen is not None:
            screen.play.feedback.recorder = self.recorder

        def generator_part(value: Settings, model: str, device: str) -> dict[str, object]:
            data = value.to_dict()
            for name in UI_ONLY_SETTINGS:
                data.pop(name, None)
            data.update(model=model, device=device)
            return data

        # The model and device in use may be this session's (--model, serve's model
        # server) rather than the file's: they change only when the player changed them
        # here. Saving with nothing changed then loads nothing (a web player's Save loaded
        # the host's file model beside the model server: 51 -> 697 MiB per game).
        model, device = self._requested_model, self._requested_device
        if not self.hosted:  # a web player's form has no model or device
            model = settings.model if settings.model != old.model else model
            device = settings.device if settings.device != old.device else device
        before = generator_part(old, self._requested_model, self._requested_device)
        if generator_part(settings, model, device) != before:
            self.load_model(model, device)
        self.notify("Settings saved." if not self.hosted else "Your settings are saved.")

    def action_toggle_model_panel(self) -> None:
        screen = self._game_screen()
        if screen is not None:
            screen.action_toggle_model_panel()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            if self.game is not None:
                verbs = self.game.parser.verbs
            else:  # the title screen: the verbs of the world a new game is played in
                from textgamegen.engine.parser import VERBS, world_verbs

                verbs = VERBS + world_verbs(self.launch.world)
            self.push_screen(HelpScreen(verbs))

    @on(TitleScreen.Chosen)
    def _title_choice(self, event: TitleScreen.Chosen) -> None:
        actions = {
            "new": self.action_new_game,
            "continue": self.action_continue,
            "load": self.action_load,
            "settings": self.action_settings,
            "quit": self.action_quit,
        }
        actions[event.choice]()

    # -- leaving -----------------------------------------------------------------------

    def _autosave_before_leaving(self) -> None:
        """The engine's save policy decides whether the game being left is saved."""
        game = self.game
        problem = game.saving.before_leaving(game) if game is not None else ""
        if problem:  # say so, but never trap the player
            print(f"textgamegen: autosave failed: {problem}", file=sys.stderr)

    def _leave(self) -> None:
        """Stop narrating, autosave the game and write the feedback, once, however the
        app ends."""
        if self._left:
            return
        self._left = True
        screen = self._game_screen()
        if screen is not None:
            # A thread cannot be killed: ask the generator to stop so the exit is quick.
            screen.stop_narration()
        self._autosave_before_leaving()
        if self._recorder is not None:
            self._recorder.close(timeout=1.0)

    def action_quit(self) -> None:  # type: ignore[override]
        self._leave()
        self.exit(0)

    @on(messages.ExitApp)
    def _exiting(self) -> None:
        """The app is told to end from outside: the browser tab closed (textual-serve
        sends "quit"), or SIGTERM. The game saves first, as Ctrl+Q does: closing a tab
        at turn 7 lost the turns since the last autosave (turn 5)."""
        self._leave()


def _launch_from_args(args: argparse.Namespace) -> Launch:
    """Read settings and the world named on the command line (WorldError if it is bad)."""
    from textgamegen.engine.solvability import unwinnable_warning
    from textgamegen.engine.world import load_world
    from textgamegen.engine.worlds import DEFAULT_WORLD, find_world

    settings, notice = game_settings()
    notices = [notice[:1].upper() + notice[1:]] if notice else []
    world = load_world(find_world(getattr(args, "world", None) or DEFAULT_WORLD))
    if warning := unwinnable_warning(world):
        # On the title screen and before the first game: the player knows before playing.
        print(f"textgamegen: {warning}", file=sys.stderr)
        notices.append(warning)
    saves_dir = getattr(args, "saves_dir", None)
    if getattr(args, "api_key_env", None):
        settings = replace(settings, api_key_env=args.api_key_env)
    return Launch(
        world=world,
        settings=settings,
        saves_dir=Path(saves_dir).expanduser() if saves_dir else paths.saves_dir(),
        seed=getattr(args, "seed", None),
        # The world's own narrator, unless the player chose a model.
        model=narrator_for(world.narrator, settings, getattr(args, "model", None)),
        device=getattr(args, "device", None) or settings.device,
        load=getattr(args, "load", None),
        notices=notices,
        world_chosen=bool(getattr(args, "world", None)),
        record=not getattr(args, "no_feedback", False),
    )


def run_tui(args: argparse.Namespace) -> int:
    """Play in the terminal.

    Args:
        args: the ``play`` command's arguments; reads ``world``, ``seed``, ``load``,
            ``model``, ``device`` and ``saves_dir`` when present.

    Returns:
        The exit code: 0 after a normal quit, 2 when the world cannot be loaded.
    """
    from textgamegen.engine.world import WorldError

    device = getattr(args, "device", None)
    if device is not None and device not in DEVICES:
        print(f"textgamegen: --device {device!r}: choose {one_of(DEVICES)}", file=sys.stderr)
        return 2
    try:
        launch = _launch_from_args(args)
    except WorldError as error:
        print(f"textgamegen: {error}", file=sys.stderr)
        return 2
    return run_app(TextGameGenApp(launch))


def run_app(app: TextGameGenApp, **options: object) -> int:
    """Run the app and leave at once when it exits.

    The game has saved by the time the app exits, but a narrator or model-loading thread
    may still be busy: a thread cannot be stopped, and both asyncio and the interpreter
    wait for it at exit, which left the terminal blank for seconds after Ctrl+Q. So the
    app runs on its own event loop and, when such a thread is still alive, the process
    ends without waiting for it.

    Args:
        app: the app to run.
        options: passed on to ``App.run`` (tests use ``headless`` and ``auto_pilot``).

    Returns:
        The exit code (only when no thread was left busy; otherwise the process ends).
    """
    loop = asyncio.new_event_loop()
    code = int(app.run(loop=loop, **options) or 0)  # type: ignore[arg-type]
    recorder = getattr(app, "_recorder", None)
    if recorder is not None:  # however the app ended, write what was recorded
        recorder.close(timeout=2.0)
    busy = [t for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive()]
    if any(not thread.daemon for thread in busy):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    loop.close()
    return code
