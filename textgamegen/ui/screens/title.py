"""The title screen: new game, continue, load, settings, quit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from textgamegen.safe_text import strip_unsafe

BANNER = r"""
 _____         _    ____                       ____
|_   _|____  _| |_ / ___| __ _ _ __ ___   ___ / ___| ___ _ __
  | |/ _ \ \/ / __| |  _ / _` | '_ ` _ \ / _ \ |  _ / _ \ '_ \
  | |  __/>  <| |_| |_| | (_| | | | | | |  __/ |_| |  __/ | | |
  |_|\___/_/\_\\__|\____|\__,_|_| |_| |_|\___|\____|\___|_| |_|
"""

CHOICES = [
    ("new", "New game"),
    ("continue", "Continue"),
    ("load", "Load a saved game"),
    ("settings", "Settings"),
    ("quit", "Quit"),
]


class TitleScreen(Screen[None]):
    """What the player sees first."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "choose('new')", "New game", tooltip="Start the adventure", id="title.new"),
        Binding(
            "c",
            "choose('continue')",
            "Continue",
            tooltip="Resume the autosave",
            id="title.continue",
        ),
        Binding("l", "choose('load')", "Load", tooltip="Pick a saved game", id="title.load"),
        Binding(
            "s",
            "choose('settings')",
            "Settings",
            tooltip="Model, device, sampling",
            id="title.settings",
        ),
        Binding(
            "q", "choose('quit')", "Quit", show=False, tooltip="Leave the game", id="title.quit"
        ),
        Binding("f1", "app.help", "Help", tooltip="Commands and keys", id="title.help"),
    ]

    @dataclass
    class Chosen(Message):
        """The player picked an entry ("new", "continue", "load", "settings", "quit")."""

        choice: str

    def __init__(
        self, world_title: str, can_continue: bool, notice: str = "", continues: str = ""
    ) -> None:
        """Args:
        world_title: the world a new game is played in.
        can_continue: there is an autosave to continue.
        notice: a message for the player ("" for none).
        continues: what Continue opens ("Alice in Wonderland, turn 12"; "" says nothing).
        """
        super().__init__()
        self.world_title = world_title
        self.can_continue = can_continue
        self.notice = notice
        self.continues = continues

    def compose(self) -> ComposeResult:
        with Vertical(id="title-box"):
            with Center():
                yield Static(Text(BANNER.strip("\n"), style="bold"), id="title-banner")
            yield Static(Text(strip_unsafe(self.world_title), style="italic"), id="title-world")
            with Center():
                options = [
                    Option(
                        self._label(key, label),
                        id=key,
                        disabled=(key == "continue" and not self.can_continue),
                    )
                    for key, label in CHOICES
                ]
                yield OptionList(*options, id="title-menu")
            yield Static(Text(strip_unsafe(self.notice)), id="title-notice")
            yield Static(id="title-model")
        yield Footer()

    def _label(self, key: str, label: str) -> Text:
        text = Text(label)
        if key == "continue" and self.can_continue and self.continues:
            text.append(f"  ({strip_unsafe(self.continues)})", style="dim")
        return text

    def on_mount(self) -> None:
        self.query_one("#title-notice").display = bool(self.notice)
        menu = self.query_one(OptionList)
        menu.highlighted = 1 if self.can_continue else 0
        menu.focus()
        for name in ("model_label", "device_label", "model_loading", "model_progress"):
            self.watch(self.app, name, self._model_changed)
        self.watch(self.app, "model_trouble", self._model_changed)

    def show_notice(self, text: str) -> None:
        """Add a line to the notice under the menu (a save that would not load)."""
        self.notice = "\n".join(filter(None, [self.notice, text]))
        notice = self.query_one("#title-notice", Static)
        notice.update(Text(strip_unsafe(self.notice)))
        notice.display = True

    def _model_changed(self, _value: object = None) -> None:
        app = self.app
        model = strip_unsafe(str(getattr(app, "model_label", "")))
        device = strip_unsafe(str(getattr(app, "device_label", "")))
        if getattr(app, "model_loading", False):
            line = f"Narrator: loading {model} ({device})…"
            step = strip_unsafe(str(getattr(app, "model_progress", "")))
            if step:  # what the loader is doing: "Merging the alice adapter…"
                line = f"{line} {step}"
        else:
            line = f"Narrator: {model} on {device}"
            trouble = strip_unsafe(str(getattr(app, "model_trouble", "")))
            if trouble:
                line = f"{line} ({trouble})"
        self.query_one("#title-model", Static).update(Text(line))

    @on(OptionList.OptionSelected, "#title-menu")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.action_choose(event.option.id)

    def action_choose(self, choice: str) -> None:
        if choice == "continue" and not self.can_continue:
            self.notify("There is no autosave yet.", severity="warning")
            return
        self.post_message(self.Chosen(choice))
