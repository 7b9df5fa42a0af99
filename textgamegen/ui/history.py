"""Command history for the input line: up and down walk through earlier commands."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CommandHistory:
    """Earlier commands, oldest first, with a cursor for up/down browsing.

    The line being typed when browsing starts is kept as the draft, so walking back down
    past the newest entry gives it back instead of losing it.
    """

    limit: int = 200
    entries: list[str] = field(default_factory=list)
    _cursor: int | None = None
    _draft: str = ""

    def add(self, command: str) -> None:
        """Remember a submitted command (blank lines and repeats of the last one are skipped)."""
        self._cursor = None
        self._draft = ""
        command = command.strip()
        if not command or (self.entries and self.entries[-1] == command):
            return
        self.entries.append(command)
        del self.entries[: -self.limit]

    def previous(self, current: str) -> str | None:
        """The command before the one shown, or None at the oldest (the line stays as is)."""
        if not self.entries:
            return None
        if self._cursor is None:
            self._draft = current
            self._cursor = len(self.entries)
        if self._cursor == 0:
            return None
        self._cursor -= 1
        return self.entries[self._cursor]

    def next(self) -> str | None:
        """The command after the one shown; past the newest, the draft; None when not browsing."""
        if self._cursor is None:
            return None
        self._cursor += 1
        if self._cursor >= len(self.entries):
            self._cursor = None
            return self._draft
        return self.entries[self._cursor]
