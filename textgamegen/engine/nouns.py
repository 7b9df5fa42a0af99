"""Which thing a noun phrase names, among the keys a command can reach.

``match`` is pure: it scores the keys against the phrase and says what it found, telling
no one. ``resolve`` is the reporting wrapper the actions use: it tells the player when
the phrase names nothing or more than one thing, and keeps an ambiguous command pending,
so the answer to "Which do you mean ...?" ("brass") can finish it (``answer_pending``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from textgamegen.engine.parser import Command, noun_words

if TYPE_CHECKING:
    from textgamegen.engine.game import Game
    from textgamegen.engine.turn import Turn


@dataclass(frozen=True)
class Match:
    """What a phrase names among some keys.

    Attributes:
        words: the phrase's words, articles dropped (empty: it names nothing at all).
        found: the keys it names best; one key is a match, several are ambiguous.
    """

    words: tuple[str, ...]
    found: tuple[str, ...]

    @property
    def key(self) -> str | None:
        """The one key named, or None (nothing, or more than one)."""
        return self.found[0] if len(self.found) == 1 else None


@dataclass
class Pending:
    """A command waiting for the answer to "Which do you mean ...?"."""

    command: Command
    slot: str
    keys: list[str]


def match(game: Game, phrase: str, keys: list[str]) -> Match:
    """The keys among ``keys`` that ``phrase`` names best.

    An exact name or alias beats a partial one ("key" is an alias of both keys, so it
    is ambiguous; "brass" names only the brass key).
    """
    words = noun_words(phrase)
    if not words:
        return Match((), ())
    scored: dict[int, list[str]] = {}
    for key in dict.fromkeys(keys):
        best = 0
        for name in game.names_of(key):
            name_words = noun_words(name)
            if words == name_words:
                best = 3
            elif set(words) <= set(name_words):
                best = max(best, 2)
        if best:
            scored.setdefault(best, []).append(key)
    found = scored[max(scored)] if scored else []
    return Match(tuple(words), tuple(found))


def names_any(game: Game, phrase: str, keys: list[str]) -> bool:
    """Whether ``phrase`` names at least one of ``keys``."""
    return bool(match(game, phrase, keys).found)


SELF_WORDS = frozenset({"me", "myself", "self", "yourself"})


def not_here(game: Game, words: tuple[str, ...]) -> str:
    """What to say when a phrase names nothing in reach: a person elsewhere by their own
    name ("Tamsin the baker is not here."), yourself, or plainly nothing."""
    if set(words) <= SELF_WORDS:
        carried = game.carried()
        held = f" You are carrying {game.item_list(carried)}." if carried else ""
        return f"You look yourself over: travel-worn, but whole.{held}"
    people = match(game, " ".join(words), list(game.world.npcs)).found
    if len(people) == 1:
        return f"{game.name_of(people[0])} is not here."
    return f"You don't see any {' '.join(words)} here."


def resolve(
    game: Game,
    turn: Turn,
    phrase: str,
    keys: list[str],
    slot: str = "noun",
    command: Command | None = None,
    prefer: Callable[[str], bool] | None = None,
) -> str | None:
    """The one key among ``keys`` that ``phrase`` names, or None after telling the player.

    When the phrase names several and exactly one of them is what the command can use
    (``prefer``: the lantern that is a container, after "put oil in"), that one is meant,
    as a player means it. Otherwise, when the phrase is ambiguous and ``command`` is
    given, the command waits for the player's answer in ``slot`` ("noun" or "noun2").
    """
    found = match(game, phrase, keys)
    if not found.words:
        turn.refuse("What do you mean?")
        return None
    if not found.found:
        turn.refuse(not_here(game, found.words))
        return None
    if found.key is None and prefer is not None:
        fitting = [key for key in found.found if prefer(key)]
        if len(fitting) == 1:
            return fitting[0]
    if found.key is None:
        names = [f"the {game.name_of(key)}" for key in found.found]
        turn.refuse(f"Which do you mean: {', '.join(names[:-1])} or {names[-1]}?")
        if command is not None:
            game.pending = Pending(command, slot, list(found.found))
        return None
    return found.key


def answer_pending(game: Game, command: Command) -> Command:
    """Turn "brass" after "Which do you mean ...?" into the command that asked."""
    pending, game.pending = game.pending, None
    if pending is None or command.action not in ("freeform", "examine", "take"):
        return command
    answer = noun_words(command.text)
    matches = [
        key
        for key in pending.keys
        if any(answer and set(answer) <= set(noun_words(name)) for name in game.names_of(key))
    ]
    if len(matches) != 1:
        return command
    name = game.name_of(matches[0])
    if pending.slot == "noun2":
        return replace(pending.command, noun2=name)
    return replace(pending.command, noun=name)
