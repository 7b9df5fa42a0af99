"""The game screen: story log, model panel, command line, side panel and status bar.

The screen plays its game through a ``PlaySession`` (``textgamegen.play.session``), as
scripts do. ``Game.step`` is pure Python and fast, so it runs right here on the UI thread
and its events are shown at once; the prose it asks for is queued on the session, which
narrates it on the story log's thread workers. Each report comes back as a story log
message; when a request is settled, the session hands its text back to the game by its one
rule (first descriptions are cached and saved; fallbacks are not) and the log shows it.

While the player reads (nothing queued, for ``PREFETCH_IDLE_S``), the session writes ahead
what the game will likely need next (``Game.prefetch_requests``: the rooms next door, the
things in view), off screen; that text only fills the game's cache, so walking into a
prefetched room shows its description at once. A command's prose comes first: it stops
the line being written ahead (kept, to be finished later), or, when the command asks for
that very line, takes it over and streams the rest. The ``prefetch`` setting turns this
off.

Every step result and finished narration also goes to the session's ``FeedbackSession``,
which records them (and Esc, ``retry``, ``undo``, the Ctrl+G / Ctrl+B ratings) when the
settings record feedback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from textgamegen import paths
from textgamegen.engine.content import Event, EventKind, StepResult
from textgamegen.engine.maps import draw_map
from textgamegen.narration.generator import Generator
from textgamegen.paths import for_player
from textgamegen.play.feedback import FeedbackSession
from textgamegen.play.session import PlaySession
from textgamegen.safe_text import strip_unsafe
from textgamegen.ui.widgets.command_input import CommandInput
from textgamegen.ui.widgets.model_panel import ModelPanel
from textgamegen.ui.widgets.side_panel import SidePanel
from textgamegen.ui.widgets.status_bar import MODEL_TROUBLE, StatusBar
from textgamegen.ui.widgets.story_log import StoryLog

if TYPE_CHECKING:
    from textual.timer import Timer

    from textgamegen.engine.game import Game
    from textgamegen.ui.app import TextGameGenApp

SIDE_MAP_WIDTH = 28
"""Columns inside the side panel (its width, 33, less border, padding and scroll bar):
three rooms across."""
SIDE_MAP_HEIGHT = 9
"""Lines of map in the side panel, around the player's room; ``map`` shows it all."""

SWIPE_WORDS = {"previous": -1, "prev": -1, "next": 1}
"""Typed instead of Left/Right on an empty line: another version of the last passage."""
PREFETCH_IDLE_S = 0.4
"""Quiet time after the last narration before writing ahead: a player typing on at once
does not start (and at once cancel) a prefetch between every two commands."""


def world_title(game: Game) -> str:
    """The world's display title (its name when it has no title)."""
    world = game.world
    return str(getattr(world, "title", "") or getattr(world, "name", "") or "world")


class GameScreen(Screen[None]):
    """Play one game."""

    if TYPE_CHECKING:
        # The app's settings, recorder and model state, typed; keys reach the app's own
        # actions through "app.*" bindings.
        app: TextGameGenApp

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "app.help", "Help", tooltip="Commands and keys", id="game.help"),
        # The footer shows what fits 80 columns (F1, F3, Ctrl+S/O/R, Ctrl+Q); the other
        # keys work everywhere and are listed in the help (F1) and the palette (Ctrl+P).
        Binding(
            "f2",
            "toggle_model_panel",
            "Model panel",
            show=False,
            tooltip="Show or hide the prompt, candidates and timings",
            id="game.model_panel",
        ),
        Binding(
            "f3", "app.settings", "Settings", tooltip="Model, device, sampling", id="game.settings"
        ),
        Binding("ctrl+s", "app.save", "Save", tooltip="Save the game under a name", id="game.save"),
        Binding("ctrl+o", "app.load", "Load", tooltip="Load a saved game", id="game.load"),
        Binding("ctrl+r", "retry", "Retry", tooltip="Write the last prose again", id="game.retry"),
        Binding(
            "ctrl+g",
            "rate('good')",
            "Good",
            show=False,
            tooltip="Rate the last passage good (recorded for the narrator's next training)",
            id="game.rate_good",
        ),
        Binding(
            "ctrl+b",
            "rate('bad')",
            "Bad",
            show=False,
            tooltip="Rate the last passage bad (kept out of the narrator's next training)",
            id="game.rate_bad",
        ),
        Binding(
            "escape",
            "stop_narration",
            "Stop",
            show=False,  # the status bar says "writing… (Esc stops)" while it applies
            tooltip="Stop the prose being written",
            id="game.stop",
        ),
    ]

    def __init__(self, game: Game, *, opening: list[StepResult] | None = None) -> None:
        super().__init__()
        self.game = game
        self._opening = opening or []
        # The command line as it was when Tab last listed options (None: none shown).
        self._hint_for: str | None = None
        self._told = ""  # the narrator's last notice, toasted once
        self._prefetch_timer: Timer | None = None
        self._narrator_down = False
        """The last narration was the template's because the model failed."""
        self.story = StoryLog(lambda report: self.play.settle(report), id="story")
        self.play = PlaySession(
            game,
            # Its recorder is set on mount, from the app's settings.
            feedback=FeedbackSession(None, world=game.world.name, player=paths.web_player()),
            start=self.story.run_loop,
            relay=self.story.relay,
            show=self._show_events,
            place=self.story.add_pending,
        )
        """The game with its narrator: steps, prose, feedback and writing ahead."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="game-body"):
            with Vertical(id="game-main"):
                yield self.story
                yield ModelPanel(id="model-panel")
                yield Static(id="completions")
                yield CommandInput(
                    self._verbs, self._scope_names, id="command", topics=self._topics
                )
            yield SidePanel(id="side")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.play.feedback.recorder = self.app.recorder
        panel = self.query_one(ModelPanel)
        panel.display = self.app.settings.show_model_panel
        panel.show_special_tokens = self.app.settings.show_special_tokens
        self.query_one("#completions").display = False
        self.watch(self.app, "generator", self._generator_changed)
        self.watch(self.app, "model_label", self._model_changed)
        self.watch(self.app, "device_label", self._model_changed)
        self.watch(self.app, "model_loading", self._model_changed)
        self.watch(self.app, "model_progress", self._model_changed)
        self.watch(self.app, "model_trouble", self._model_changed)
        for result in self._opening:
            self.play.take(result)
        self._opening = []
        self._narrating_changed()
        self.refresh_panels()
        self.query_one(CommandInput).focus()

    # -- the game's read-only views ----------------------------------------------------

    def _verbs(self) -> list[str]:
        return self.game.verbs()

    def _scope_names(self) -> list[str]:
        return self.game.scope_names()

    def _topics(self, person: str) -> list[str]:
        return self.game.topics_of(person)

    def refresh_panels(self) -> None:
        """Redraw the side panel and status bar from the game state."""
        game = self.game
        self.query_one(SidePanel).show(
            game.room().name,
            game.exits(),
            game.inventory(),
            game.quest_log(),
            draw_map(
                game.world,
                game.state.places,
                game.state.room,
                width=SIDE_MAP_WIDTH,
                height=SIDE_MAP_HEIGHT,
            ),
        )
        status = self.query_one(StatusBar)
        status.world = world_title(game)
        status.turn = game.turn
        self._model_changed()

    def _model_changed(self, _value: object = None) -> None:
        status = self.query_one(StatusBar)
        status.model = self.app.model_label
        status.device = self.app.device_label
        status.model_loading = self.app.model_loading
        status.progress = self.app.model_progress
        status.trouble = self.app.model_trouble

    def on_unmount(self) -> None:
        # The game screen is going (new game, load, quit): stop the generator's thread soon.
        self.play.close()

    def _generator_changed(self, generator: Generator | None) -> None:
        self.play.use_generator(generator)
        self._narrating_changed()

    # -- commands ----------------------------------------------------------------------

    @on(CommandInput.CommandEntered)
    def _command_entered(self, event: CommandInput.CommandEntered) -> None:
        self.query_one("#completions").display = False
        self._hint_for = None
        swipe = SWIPE_WORDS.get(event.command.casefold())
        if swipe is not None:
            self.swipe(swipe)
            return
        self.run_command(event.command)

    @on(CommandInput.SwipeAsked)
    def _swipe_asked(self, event: CommandInput.SwipeAsked) -> None:
        self.swipe(event.step)

    def swipe(self, step: int) -> None:
        """Show the version of the last passage before (-1) or after (1) the one shown;
        the one shown is the one the game replays later."""
        changed = self.story.swipe(step)
        if not changed:
            self.notify("No other version to show. 'retry' (Ctrl+R) writes another.", title="Swipe")
        for paragraph in changed:
            if paragraph.request is not None:
                self.game.choose_text(paragraph.request, paragraph.text)

    def run_command(self, command: str) -> StepResult:
        """Step the game and show the result; its prose is queued for narration, before
        writing ahead (the session decides what of that goes on)."""
        self._stop_prefetch_timer()
        self.story.add_command(command)
        self.story.begin_step(retry=self.game.parser.parse(command).action == "retry")
        result = self.play.step(command)
        self._narrating_changed()
        self.refresh_panels()
        if "won" in result.changes:  # the winning step only, not every step after it
            self.notify("You have won! Play on, or start a new game.", title="The end")
        if result.quit:
            self.app.action_quit()  # the game has autosaved itself
        return result

    def _show_events(self, result: StepResult) -> None:
        for event in result.events:
            self.story.add_event(event)

    def add_notice(self, text: str) -> None:
        """A line from the game itself (a save or load asked for with a key), shown in the
        story as "save NAME" shows its answer. Model notices are toasts (``App.tell``)."""
        self.story.add_event(Event(EventKind.SYSTEM, text))

    @on(CommandInput.Changed, "#command")
    def _command_changed(self, event: CommandInput.Changed) -> None:
        # The options stay while the player narrows them down; editing back hides them.
        if self._hint_for is not None and not event.value.startswith(self._hint_for):
            self._hint_for = None
            self.query_one("#completions").display = False

    @on(CommandInput.CompletionsOffered)
    def _completions_offered(self, event: CommandInput.CompletionsOffered) -> None:
        self._hint_for = self.query_one(CommandInput).value
        hint = self.query_one("#completions", Static)
        shown = ", ".join(strip_unsafe(option) for option in event.options[:12])
        more = len(event.options) - 12
        hint.update(shown + (f" … and {more} more" if more > 0 else ""))
        hint.display = True

    # -- narration reports -------------------------------------------------------------

    @on(StoryLog.NarrationStarted)
    def _narration_started(self, event: StoryLog.NarrationStarted) -> None:
        request = event.job.request
        self.query_one(ModelPanel).show_working(request.kind.value, request.subject)
        self._narrating_changed()

    @on(StoryLog.NarrationCompleted)
    def _narration_completed(self, event: StoryLog.NarrationCompleted) -> None:
        # The story log has had the session settle it (hand it back, record it) and shows it.
        narration = event.narration
        self.query_one(ModelPanel).show_narration(narration)
        notice = narration.notice
        if narration.backend != "template":
            # Said in the status bar for as long as it lasts; a toast only when it starts
            # or changes, not on every turn of a server that stays down.
            self.app.model_trouble = MODEL_TROUBLE if narration.fallback and notice else ""
        if notice and notice != self._told:
            self.notify(for_player(strip_unsafe(notice)), title="Narrator")
        self._told = notice
        if narration.fallback and notice:
            self._narrator_down = True  # the model (server) failed; the template wrote
        elif self._narrator_down and not narration.fallback and not narration.cancelled:
            # Its return is said once (a restarted server).
            self._narrator_down = False
            self.notify("The model is back: the narrator writes again.", title="Narrator")
        self._feedback_notices()
        self._narrating_changed()

    def _feedback_notices(self) -> None:
        recorder = self.play.feedback.recorder
        for notice in recorder.take_notices() if recorder is not None else []:
            self.app.tell(notice, severity="warning")

    @on(StoryLog.NarrationFailed)
    def _narration_failed(self, event: StoryLog.NarrationFailed) -> None:
        message = for_player(f"The narrator failed: {strip_unsafe(event.error)}")
        self.query_one(ModelPanel).show_message(message)
        self.notify(message, severity="error", title="Narrator")
        self._narrating_changed()

    @on(StoryLog.NarrationDropped)
    def _narration_dropped(self, event: StoryLog.NarrationDropped) -> None:
        self._narrating_changed()

    def _narrating_changed(self) -> None:
        narrating = self.play.narrating
        self.query_one(StatusBar).narrating = narrating
        self.refresh_bindings()
        if not narrating:
            self._schedule_prefetch()

    # -- writing ahead while the player reads ------------------------------------------

    def _stop_prefetch_timer(self) -> None:
        if self._prefetch_timer is not None:
            self._prefetch_timer.stop()
        self._prefetch_timer = None

    def _schedule_prefetch(self) -> None:
        self._stop_prefetch_timer()
        if self.app.settings.prefetch:
            self._prefetch_timer = self.set_timer(PREFETCH_IDLE_S, self._start_prefetch)

    def _start_prefetch(self) -> None:
        self._prefetch_timer = None
        if self.app.settings.prefetch:
            self.play.prefetch()

    def cancel_prefetch(self) -> None:
        """Stop writing ahead now (a setting turned off, leaving)."""
        self._stop_prefetch_timer()
        self.play.cancel_prefetch()

    @on(StoryLog.Prefetched)
    def _prefetched(self, event: StoryLog.Prefetched) -> None:
        self.play.take_prefetched(event)

    # -- actions -----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop_narration":
            return self.play.narrating
        return True

    def action_stop_narration(self) -> None:
        self.stop_narration()

    def stop_narration(self) -> None:
        """Stop the prose being written and drop what is queued."""
        if self.play.cancel():
            self.query_one(ModelPanel).show_message("Stopped.")
        self._narrating_changed()

    def action_retry(self) -> None:
        self.run_command("retry")

    def action_rate(self, rating: str) -> None:
        """The rating keys type ``rate good`` / ``rate bad`` for the player."""
        self.run_command(f"rate {rating}")

    def action_toggle_model_panel(self) -> None:
        self.set_model_panel(not self.query_one(ModelPanel).display)

    def set_model_panel(self, shown: bool) -> None:
        self.query_one(ModelPanel).display = shown
        self.app.settings.show_model_panel = shown
