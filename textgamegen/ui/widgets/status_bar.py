"""The status bar: world, turn, model and device, with a spinner while the model loads."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.reactive import reactive
from textual.widgets import LoadingIndicator, Static

from textgamegen.engine.safe_text import strip_unsafe


class StatusBar(Horizontal):
    """One line at the bottom of the game screen."""

    world: reactive[str] = reactive("")
    turn: reactive[int] = reactive(0)
    model: reactive[str] = reactive("")
    device: reactive[str] = reactive("")
    loading: reactive[bool] = reactive(False)
    narrating: reactive[bool] = reactive(False)

    def compose(self) -> ComposeResult:
        yield Static(id="status-text")
        yield LoadingIndicator(id="status-spinner")

    def on_mount(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        text = Text()
        text.append(" World ", style="bold")
        text.append(strip_unsafe(self.world))
        text.append("  │  Turn ", style="bold")
        text.append(str(self.turn))
        text.append("  │  Model ", style="bold")
        text.append(strip_unsafe(self.model) or "none")
        if self.loading:
            text.append(" (loading…)", style="italic")
        text.append("  │  Device ", style="bold")
        text.append(strip_unsafe(self.device) or "-")
        if self.narrating:
            text.append("  │  writing… (Esc stops)", style="italic")
        self.query_one("#status-text", Static).update(text)
        self.query_one("#status-spinner").display = self.loading

    def watch_world(self) -> None:
        self._refresh_if_mounted()

    def watch_turn(self) -> None:
        self._refresh_if_mounted()

    def watch_model(self) -> None:
        self._refresh_if_mounted()

    def watch_device(self) -> None:
        self._refresh_if_mounted()

    def watch_loading(self) -> None:
        self._refresh_if_mounted()

    def watch_narrating(self) -> None:
        self._refresh_if_mounted()

    def _refresh_if_mounted(self) -> None:
        try:
            self._redraw()
        except NoMatches:  # not composed yet; on_mount draws it
            pass
