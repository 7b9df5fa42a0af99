"""Save and load dialogs. The engine's saves module does the reading and writing."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from textgamegen.paths import for_player
from textgamegen.safe_text import strip_unsafe


class SaveDialog(ModalScreen[str | None]):
    """Ask for a save name; dismisses with the sanitised name, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Do not save", id="save.cancel")
    ]

    def __init__(self, default_name: str = "") -> None:
        super().__init__()
        self.default_name = default_name

    def compose(self) -> ComposeResult:
        with Vertical(id="save-box", classes="dialog"):
            yield Label("Save the game as:", classes="dialog-title")
            yield Input(
                self.default_name, placeholder="a name, e.g. before-the-bridge", id="save-name"
            )
            yield Static(id="save-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", id="save-ok", variant="primary")
                yield Button("Cancel", id="save-cancel")

    def on_mount(self) -> None:
        self.query_one("#save-error").display = False
        self.query_one("#save-name", Input).focus()

    @on(Input.Submitted, "#save-name")
    @on(Button.Pressed, "#save-ok")
    def _confirm(self) -> None:
        from textgamegen.engine.saves import SaveError, save_name

        raw = self.query_one("#save-name", Input).value
        try:
            name = save_name(raw)
        except SaveError as error:
            error_line = self.query_one("#save-error", Static)
            error_line.update(Text(for_player(strip_unsafe(str(error)))))
            error_line.display = True
            return
        self.dismiss(name)

    @on(Button.Pressed, "#save-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class LoadDialog(ModalScreen[str | None]):
    """Pick a save from the saves folder; dismisses with its name, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Do not load", id="load.cancel")
    ]

    def __init__(self, saves_dir: Path) -> None:
        super().__init__()
        self.saves_dir = saves_dir

    def compose(self) -> ComposeResult:
        with Vertical(id="load-box", classes="dialog"):
            yield Label("Load a saved game:", classes="dialog-title")
            yield OptionList(id="load-list")
            yield Static(id="load-empty", classes="dialog-error")
            yield Static(id="load-broken", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Load", id="load-ok", variant="primary")
                yield Button("Cancel", id="load-cancel")

    def on_mount(self) -> None:
        from textgamegen.engine.saves import SaveError, list_saves

        listing = self.query_one("#load-list", OptionList)
        empty = self.query_one("#load-empty", Static)
        problems: list[str] = []
        try:
            saves = list_saves(self.saves_dir, problems)
        except (OSError, SaveError) as error:
            saves = []
            empty.update(
                Text(for_player(strip_unsafe(f"Could not read {self.saves_dir}: {error}")))
            )
        else:
            empty.update(Text(for_player(f"No saves in {self.saves_dir} yet.")))
        for info in saves:
            label = Text(strip_unsafe(info.name), style="bold")
            label.append(
                strip_unsafe(f"  {info.world}, turn {info.turn}, {info.saved_at}"), style="dim"
            )
            listing.add_option(Option(label, id=info.name))
        broken = self.query_one("#load-broken", Static)
        if problems:
            # Name the broken files but keep listing the good ones.
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            broken.update(Text(for_player(strip_unsafe(f"Not listed: {problems[0]}{more}"))[:300]))
        broken.display = bool(problems)
        empty.display = not saves
        listing.display = bool(saves)
        if saves:
            listing.highlighted = 0
            listing.focus()

    @on(OptionList.OptionSelected, "#load-list")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    @on(Button.Pressed, "#load-ok")
    def _confirm(self) -> None:
        listing = self.query_one("#load-list", OptionList)
        if listing.highlighted is None or not listing.option_count:
            self.dismiss(None)
            return
        self.dismiss(listing.get_option_at_index(listing.highlighted).id)

    @on(Button.Pressed, "#load-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
