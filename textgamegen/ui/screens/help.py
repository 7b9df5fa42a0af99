"""The help screen: what to type and which keys do what."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Markdown

HELP = """\
# How to play

Type what you do and press **Enter**. The engine keeps the world's state; the model only
narrates it.

| Command | Does |
|---|---|
| `n` `s` `e` `w` `ne` `nw` `se` `sw` `up` `down` `in` `out`, `go north` | move |
| `look`, `l` | look around |
| `examine X`, `x X` | look closely at something |
| `take X`, `get X`, `take all`, `drop X` | carry things |
| `put X in Y`, `open X`, `close X`, `unlock X with Y` | containers and doors |
| `read X`, `use X`, `use X on Y` | use things |
| `inventory`, `i` | what you carry |
| `talk to X`, `ask X about Y`, `give X to Y` | people |
| `quests`, `journal` | your quests |
| `wait`, `z` | let time pass |
| `save NAME`, `load NAME` | saves |
| `undo`, `retry` | take back a turn; write the last prose again |
| `rate good`, `rate bad` | tell the narrator what you thought of the last passage |
| `help`, `quit` | this, and leave (the game autosaves) |

Anything else is a free-form action: nothing changes, but the narrator tells what happens.

# Keys

| Key | Does |
|---|---|
| **Tab** | complete a verb, exit, item or person; again to cycle |
| **↑** / **↓** | earlier commands |
| **→** | accept the grey suggestion |
| **Esc** | stop the prose being written |
| **F1** | this help |
| **F2** | show or hide the model panel (prompt, candidates, scores, timings) |
| **F3** | settings: model, device, sampling |
| **Ctrl+S** / **Ctrl+O** | save / load |
| **Ctrl+R** | retry the last prose |
| **Ctrl+G** / **Ctrl+B** | rate the last passage good / bad (kept on this machine) |
| **Ctrl+P** | command palette |
| **Ctrl+Q** | quit (autosaves) |
"""


class HelpScreen(ModalScreen[None]):
    """Commands and keys."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", tooltip="Back to the game", id="help.close"),
        Binding("f1", "close", "Close", show=False, id="help.close_f1"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box", classes="dialog"):
            yield Markdown(HELP, id="help-text")
            yield Button("Close", id="help-close", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
