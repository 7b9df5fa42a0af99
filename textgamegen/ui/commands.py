"""Command-palette entries (Ctrl+P): save, load, new game, model, settings and friends."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from textgamegen.ui.app import TextGameGenApp


class GameCommands(Provider):
    """The game's own palette entries, including one per installed model."""

    def _entries(self) -> list[tuple[str, Callable[[], object], str]]:
        app = cast("TextGameGenApp", self.app)
        entries: list[tuple[str, Callable[[], object], str]] = [
            ("New game", app.action_new_game, "Start the adventure from the beginning"),
            ("Save game", app.action_save, "Save the game under a name"),
            ("Load game", app.action_load, "Load a saved game"),
            ("Settings", app.action_settings, "Model, device and sampling values"),
            ("Toggle model panel", app.action_toggle_model_panel, "Prompt, candidates, timings"),
            ("Help", app.action_help, "Commands and keys"),
            ("Quit", app.action_quit, "Leave the game (it autosaves)"),
        ]
        for name in self._model_names:
            entries.append(
                (f"Model: {name}", partial(app.switch_model, name), f"Narrate with {name}")
            )
        return entries

    async def startup(self) -> None:
        from textgamegen.ui.screens.settings import model_choices

        app = cast("TextGameGenApp", self.app)
        self._model_names = [value for _, value in model_choices(app.settings.model)]

    async def discover(self) -> Hits:
        for name, command, help_text in self._entries():
            yield DiscoveryHit(name, command, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, command, help_text in self._entries():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), command, help=help_text)
