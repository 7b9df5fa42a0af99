"""The help screen: what to type and which keys do what."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Markdown

from textgamegen.engine.parser import VERBS, Verb

INTRO = """\
# How to play

Type what you do and press **Enter**. The engine keeps the world's state; the model only
narrates it. Stuck? Type `hint`.
"""

KEYS = """\
Anything else that starts with a real verb (`kneel`, `knock on the wall`) is a free-form action:
nothing changes, but the narrator tells what happens. A word the game does not know costs no turn.

# Keys

| Key | Does |
|---|---|
| **Tab** | complete a verb, exit, item, person, or a topic after `ask X about`; again to cycle |
| **↑** / **↓** | earlier commands |
| **→** | accept the grey suggestion |
| **Esc** | stop the prose being written |
| **F1** | this help (**PageUp**/**PageDown**, arrows or the wheel scroll it) |
| **F2** | show or hide the model panel (prompt, candidates, scores, timings) |
| **F3** | settings: model, device, theme, sampling |
| **Ctrl+S** / **Ctrl+O** | save / load |
| **Ctrl+R** | retry: write the last passage again, in its place |
| **←** / **→** | on an empty line: swipe the versions retry wrote (or `previous` / `next`) |
| **Ctrl+G** / **Ctrl+B** | rate the last passage good / bad (kept on this machine) |
| **Ctrl+P** | command palette |
| **Ctrl+Q** | quit (autosaves) |
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def command_table(verbs: Iterable[Verb]) -> str:
    """The commands as a Markdown table, one row per verb of the parser's own table, so
    the help always lists what the parser really understands (a world's own verbs too)."""
    rows = ["| Command | Does, and other words for it |", "|---|---|"]
    for verb in verbs:
        if not verb.words:
            continue
        usage, _, does = verb.help.partition(": ")
        usage = usage or verb.words[0]
        # "go DIRECTION (or just n, s, ...)": the words in brackets go to the wide column.
        usage, bracket, aside = usage.partition(" (")
        if bracket:
            does = "; ".join(part for part in (aside.rstrip(")"), does) if part)
        said = f"{usage} {aside}".replace(",", " ").replace(")", " ").split()
        others = [word for word in verb.words if word not in said]
        also = "also " + ", ".join(f"`{word}`" for word in others) if others else ""
        text = "; ".join(part for part in (does, also) if part)
        rows.append(f"| `{_cell(usage)}` | {_cell(text)} |")
    return "\n".join(rows) + "\n"


def help_text(verbs: Iterable[Verb] = VERBS) -> str:
    """The whole help page as Markdown."""
    return f"{INTRO}\n{command_table(verbs)}\n{KEYS}"


class HelpScreen(ModalScreen[None]):
    """Commands and keys, in a box that scrolls (PageUp/PageDown, arrows, home/end, wheel)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", tooltip="Back to the game", id="help.close"),
        Binding("f1", "close", "Close", show=False, id="help.close_f1"),
        Binding("pageup", "scroll('scroll_page_up')", "Page up", show=False, id="help.page_up"),
        Binding(
            "pagedown", "scroll('scroll_page_down')", "Page down", show=False, id="help.page_down"
        ),
        Binding("up", "scroll('scroll_up')", "Up", show=False, id="help.up"),
        Binding("down", "scroll('scroll_down')", "Down", show=False, id="help.down"),
        Binding("home", "scroll('scroll_home')", "Top", show=False, id="help.top"),
        Binding("end", "scroll('scroll_end')", "Bottom", show=False, id="help.bottom"),
    ]

    def __init__(self, verbs: Iterable[Verb] | None = None) -> None:
        """Args:
        verbs: the verb table of the game being played (the built-in one by default).
        """
        super().__init__()
        self.text = help_text(VERBS if verbs is None else verbs)

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box", classes="dialog"):
            with VerticalScroll(id="help-scroll"):
                yield Markdown(self.text, id="help-text")
            yield Button("Close", id="help-close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    def action_scroll(self, how: str) -> None:
        scroll = self.query_one("#help-scroll", VerticalScroll)
        getattr(scroll, how)(animate=False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
