"""The status bar: world, turn, model and device, with a spinner while the model loads."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Static

from textgamegen.safe_text import strip_unsafe

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


MODEL_TROUBLE = "failing, the template writes"
"""What the status bar and the title say while a model server does not answer."""


class StatusBar(Static):
    """One line at the bottom of the game screen."""

    world: reactive[str] = reactive("")
    turn: reactive[int] = reactive(0)
    model: reactive[str] = reactive("")
    device: reactive[str] = reactive("")
    model_loading: reactive[bool] = reactive(False)
    """Not ``loading``: that name is Textual's own (it covers a widget with a spinner)."""
    progress: reactive[str] = reactive("")
    """What the model loader is doing ("Merging the alice adapter…"), shown while it loads."""
    narrating: reactive[bool] = reactive(False)
    trouble: reactive[str] = reactive("")
    """Why the model is not writing now ("" while it is), said after its name."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)
        self._frame = 0
        self._spinner: Timer | None = None
        self.plain = ""
        """The line as plain text, for tests."""

    def on_mount(self) -> None:
        self._spinner = self.set_interval(0.1, self._spin, pause=not self.model_loading)
        self._redraw()

    def _spin(self) -> None:
        self._frame = (self._frame + 1) % len(SPINNER)
        self._redraw()

    def _redraw(self) -> None:
        # One line that fits 80 columns with "Alice in Wonderland" and "(Esc stops)": the
        # world's title needs no label, and the device follows the model ("on cpu").
        text = Text(" ")
        text.append(strip_unsafe(self.world), style="bold")
        text.append(" │ Turn ", style="bold")
        text.append(str(self.turn))
        text.append(" │ Model ", style="bold")
        text.append(strip_unsafe(self.model) or "none")
        if self.model_loading:
            step = strip_unsafe(self.progress) or "loading…"
            text.append(f" {SPINNER[self._frame]} {step}", style="italic")
        else:
            text.append(f" on {strip_unsafe(self.device) or '-'}")
            if self.trouble:
                text.append(f" ({strip_unsafe(self.trouble)})", style="bold red")
        if self.narrating:
            text.append(" │ writing… (Esc stops)", style="italic")
        self.plain = text.plain
        self.update(text)

    def watch_model_loading(self, loading: bool) -> None:
        if self._spinner is not None:
            if loading:
                self._spinner.resume()
            else:
                self._spinner.pause()
        self._redraw()

    def watch_world(self) -> None:
        self._redraw()

    def watch_turn(self) -> None:
        self._redraw()

    def watch_model(self) -> None:
        self._redraw()

    def watch_device(self) -> None:
        self._redraw()

    def watch_progress(self) -> None:
        self._redraw()

    def watch_narrating(self) -> None:
        self._redraw()

    def watch_trouble(self) -> None:
        self._redraw()
