"""The command line: history on up/down, Tab completion, and ghost-text suggestions."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.suggester import Suggester
from textual.widgets import Input

from textgamegen.safe_text import strip_unsafe
from textgamegen.ui.completion import Completion, complete, suggestion
from textgamegen.ui.history import CommandHistory

MAX_COMMAND = 500
"""Characters one command may have; the engine copes with more, the screen need not."""

WordSource = Callable[[], Iterable[str]]
TopicSource = Callable[[str], Iterable[str]]
"""The topics a person knows, by the name typed for them."""


def _no_topics(person: str) -> list[str]:
    return []


class _ScopeSuggester(Suggester):
    """Ghost text from the same words Tab completes (right arrow accepts it)."""

    def __init__(self, verbs: WordSource, names: WordSource, topics: TopicSource) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self._verbs = verbs
        self._names = names
        self._topics = topics

    async def get_suggestion(self, value: str) -> str | None:
        return suggestion(value, self._verbs(), self._names(), self._topics)


def _shown_option(found: Completion, line: str) -> int:
    """The option the line already shows ("s" is south's "s", "talk" is "talk"), so the
    next Tab moves on to another one instead of only adding a space; -1 when none."""
    typed = line[len(found.head) :].strip().casefold()
    for index, option in enumerate(found.options):
        if option.casefold() == typed:
            return index
    return -1


class CommandInput(Input):
    """Where the player types; posts ``CommandEntered`` on Enter."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history_previous", "Previous", show=False, id="input.history_previous"),
        Binding("down", "history_next", "Next", show=False, id="input.history_next"),
        # Not in the footer, which must fit 80 columns: the placeholder names Tab.
        Binding(
            "tab",
            "complete",
            "Complete",
            show=False,
            tooltip="Complete a verb, exit, item or person in scope",
            id="input.complete",
        ),
    ]

    @dataclass
    class CommandEntered(Message):
        """The player pressed Enter on a command."""

        command: str

    @dataclass
    class SwipeAsked(Message):
        """Left or Right on an empty line: show another version of the last passage."""

        step: int

    @dataclass
    class CompletionsOffered(Message):
        """Tab found several options; the screen shows them."""

        options: tuple[str, ...]

    def __init__(
        self,
        verbs: WordSource,
        names: WordSource,
        *,
        id: str | None = None,
        topics: TopicSource = _no_topics,
    ) -> None:
        super().__init__(
            placeholder="What do you do?  (F1 help, Tab completes)",
            max_length=MAX_COMMAND,
            suggester=_ScopeSuggester(verbs, names, topics),
            select_on_focus=False,
            id=id,
        )
        self.history = CommandHistory()
        self._verbs = verbs
        self._names = names
        self._topics = topics
        # The options Tab last offered, to cycle through them on the next Tab.
        self._cycle: tuple[Completion, int, str] | None = None
        # The line as Tab completed it, ending in a space: a space typed next is dropped.
        self._completed: str | None = None

    async def _on_key(self, event: events.Key) -> None:
        completed, self._completed = self._completed, None
        if event.key in ("left", "right") and not self.value:
            # An empty line has no cursor to move: the arrows swipe the versions a retry
            # wrote, as in the story tools players know.
            event.stop()
            event.prevent_default()
            self.post_message(self.SwipeAsked(-1 if event.key == "left" else 1))
            return
        if (
            event.key == "space"
            and completed is not None
            and self.value == completed
            and self.cursor_position == len(completed)
        ):
            # Completion already put the space there; a second one is a habit, not intent.
            event.stop()
            event.prevent_default()
            return
        await super()._on_key(event)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        command = strip_unsafe(event.value, keep_newlines=False).strip()
        self.value = ""
        self._cycle = None
        if not command:
            return
        self.history.add(command)
        self.post_message(self.CommandEntered(command))

    def action_history_previous(self) -> None:
        earlier = self.history.previous(self.value)
        if earlier is not None:
            self._show(earlier)

    def action_history_next(self) -> None:
        later = self.history.next()
        if later is not None:
            self._show(later)

    def _show(self, value: str) -> None:
        self.value = value
        self.cursor_position = len(value)
        self._cycle = None

    def action_complete(self) -> None:
        """Complete the word at the end of the line; Tab again cycles the options."""
        if self._cycle is not None and self._cycle[2] == self.value:
            found, index, _ = self._cycle
            index = (index + 1) % len(found.options)
            line = found.line(found.options[index])
            self._show(line)
            self._cycle = (found, index, line)
            self._completed = line
            return
        found = complete(self.value, self._verbs(), self._names(), self._topics)
        if not found.options:
            self.app.bell()
            return
        line = found.common
        if len(found.options) > 1:
            self.post_message(self.CompletionsOffered(found.options))
            if line == self.value:
                # Nothing more in common: the next Tab starts cycling through the options.
                self._cycle = (found, _shown_option(found, line), line)
                return
        self._show(line)
        if line.endswith(" "):
            self._completed = line
        if len(found.options) > 1:
            self._cycle = (found, _shown_option(found, line), line)
