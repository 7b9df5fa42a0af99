"""Command-palette entries (Ctrl+P): save, load, new game, model, theme, settings and friends.

Each entry runs one of the app's own actions, as the game screen's keys do, so a key and
its palette entry can never drift apart; the models come from the registry, one entry each,
except for a web player of ``serve``: the host's model narrates every game there.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from textgamegen.config import THEMES

if TYPE_CHECKING:
    from textgamegen.ui.app import TextGameGenApp

ENTRIES = (
    ("New game", "app.new_game", "Start the adventure from the beginning"),
    ("Save game", "app.save", "Save the game under a name"),
    ("Load game", "app.load", "Load a saved game"),
    ("Settings", "app.settings", "Model, device and sampling values"),
    ("Toggle model panel", "app.toggle_model_panel", "Prompt, candidates, timings"),
    ("Help", "app.help", "Commands and keys"),
    ("Quit", "app.quit", "Leave the game (it autosaves)"),
)
"""(name, action, help) of the game's fixed entries."""
HOSTED_HELP = {"app.settings": "Your sampling, panel, prefetch and feedback settings"}
"""A web player's help for an entry, where theirs differs (``TextGameGenApp.hosted``)."""


class GamePalette(Provider):
    """The game's own palette entries, including one per installed model."""

    if TYPE_CHECKING:
        app: TextGameGenApp  # type: ignore[assignment]  # Provider types it as any App

    def _entries(self) -> list[tuple[str, Callable[[], object], str]]:
        run = self.app.run_action
        entries: list[tuple[str, Callable[[], object], str]] = [
            (
                name,
                partial(run, action),
                HOSTED_HELP.get(action, help_text) if self.app.hosted else help_text,
            )
            for name, action, help_text in ENTRIES
        ]
        for name in self._model_names:
            switch = partial(self.app.switch_model, name)
            entries.append((f"Model: {name}", switch, f"Narrate with {name}"))
        for theme in THEMES:
            choose = partial(self.app.choose_theme, theme)
            entries.append((f"Theme: {theme}", choose, "Colour the game so (kept in settings)"))
        return entries

    async def startup(self) -> None:
        from textgamegen.ui.screens.settings import model_choices

        self._model_names = (
            []
            if self.app.hosted
            else [value for _, value in model_choices(self.app.settings.model)]
        )

    async def discover(self) -> Hits:
        for name, command, help_text in self._entries():
            yield DiscoveryHit(name, command, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, command, help_text in self._entries():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), command, help=help_text)
