"""The side panel: where the player is, a map around them, the ways out, what they carry,
and the quests."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from textgamegen.safe_text import strip_unsafe

QUEST_MARKS = {"active": "•", "done": "✔"}
"""Quests not started yet stay hidden: listing them would give the story away."""


class SidePanel(VerticalScroll):
    """Room, exits, inventory and quests, refreshed after every command."""

    can_focus = False

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.texts: dict[str, str] = {}
        """Each section's plain text by name ("room", "exits", ...), for tests."""

    def compose(self) -> ComposeResult:
        yield Static(id="side-room", classes="side-section")
        yield Static(id="side-map", classes="side-section")
        yield Static(id="side-exits", classes="side-section")
        yield Static(id="side-inventory", classes="side-section")
        yield Static(id="side-quests", classes="side-section")

    def show(
        self,
        room: str,
        exits: list[str],
        inventory: list[str],
        quests: list[tuple[str, str]],
        map_lines: list[str] | None = None,
    ) -> None:
        """Redraw from the game's read-only views; ``map_lines`` is the drawn map."""
        self._section("#side-room", "Room", [room])
        self._section("#side-map", "Map", map_lines or ["(not drawn yet)"], wrap=False)
        self._section("#side-exits", "Exits", exits or ["none"])
        self._section("#side-inventory", "Inventory", inventory or ["nothing"])
        lines = [f"{QUEST_MARKS[state]} {title}" for title, state in quests if state in QUEST_MARKS]
        self._section("#side-quests", "Quests", lines or ["none yet"])

    def _section(self, selector: str, title: str, lines: list[str], wrap: bool = True) -> None:
        # A map is a picture: wrapping a line would tear it, so it is cropped instead.
        text = Text(title + "\n", style="bold")
        body = "\n".join(strip_unsafe(line) for line in lines)
        if wrap:
            text.append(body)
        else:
            for line in body.split("\n"):
                start = len(text)
                text.append(line + "\n")
                marker = line.find("<")
                if marker >= 0 and ">" in line[marker:]:
                    end = line.index(">", marker) + 1
                    text.stylize("bold reverse", start + marker, start + end)
            text.rstrip()
        self.texts[selector.removeprefix("#side-")] = body
        self.query_one(selector, Static).update(text)
