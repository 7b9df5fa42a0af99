"""Tab completion of the command line: verbs first, then the names of things in scope.

Pure functions over the words the game knows (``Game.verbs()`` and ``Game.scope_names()``),
so they are tested without a terminal. Names may have several words ("brass lantern"): the
longest tail of the line that begins a name is what gets completed, and a fragment that
begins a later word of a name ("lan") also finds it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

ASKING = re.compile(r"^((?:ask|question|tell)\s+(.+?)\s+(?:about|of)\s+)(.*)$", re.IGNORECASE)
"""``ask PERSON about TOPIC``: after "about", Tab completes the person's topics."""


@dataclass(frozen=True)
class Completion:
    """What Tab can do with a line.

    Attributes:
        head: the part of the line that stays as typed (ends with a space, or is empty).
        fragment: the part being completed.
        options: the words or names that could replace the fragment, sorted.
    """

    head: str
    fragment: str
    options: tuple[str, ...]

    @property
    def common(self) -> str:
        """The line completed as far as every option agrees."""
        if not self.options:
            return self.head + self.fragment
        if len(self.options) == 1:
            return self.head + self.options[0] + " "
        # A character-wise common prefix is the point here (completing a word), not a path.
        prefix = os.path.commonprefix([option.lower() for option in self.options])  # noqa: RUF071
        if len(prefix) <= len(self.fragment):
            return self.head + self.fragment
        return self.head + self.options[0][: len(prefix)]

    def line(self, option: str) -> str:
        """The line with the fragment replaced by one option."""
        return self.head + option + " "


def _tidy(line: str) -> str:
    """One space between words: completing never leaves a double space."""
    ends_with_space = line.endswith(" ")
    return " ".join(line.split()) + (" " if ends_with_space and line.strip() else "")


def _unique_sorted(words: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for word in words:
        word = word.strip()
        if word and word.lower() not in seen:
            seen[word.lower()] = word
    return tuple(sorted(seen.values(), key=str.lower))


def _starts_a_word(name: str, fragment: str) -> bool:
    return any(word.startswith(fragment) for word in name.lower().split()[1:])


def complete(
    line: str,
    verbs: Iterable[str],
    names: Iterable[str],
    topics: Callable[[str], Iterable[str]] | None = None,
) -> Completion:
    """Find what the end of ``line`` could be completed to.

    Args:
        line: the command line as typed.
        verbs: every verb the parser knows.
        names: exits, items, NPCs and inventory in scope.
        topics: the topics a person knows, by the name typed for them; after
            "ask PERSON about" only these are offered.

    Returns:
        The completion; its ``options`` is empty when nothing matches.
    """
    line = _tidy(line)
    asking = ASKING.match(line)
    if asking is not None and topics is not None:
        head, person, fragment = asking.groups()
        lowered = fragment.lower()
        known = _unique_sorted(topics(person))
        options = [topic for topic in known if topic.lower().startswith(lowered)]
        return Completion(head, fragment, tuple(options))
    words = line.split(" ")
    # Verbs may have several words ("talk to", "pick up"): while the whole line begins a
    # verb, complete verbs; after that, nouns.
    lowered_line = line.lower()
    verb_options = [verb for verb in _unique_sorted(verbs) if verb.lower().startswith(lowered_line)]
    if len(words) == 1 or verb_options:
        return Completion("", line, tuple(verb_options))
    known = _unique_sorted(names)
    # The longest tail wins, so "take brass l" completes "brass lantern", not "l...".
    for start in range(1, len(words)):
        fragment = " ".join(words[start:])
        lowered = fragment.lower()
        options = [name for name in known if name.lower().startswith(lowered)]
        if options:
            return Completion(" ".join(words[:start]) + " ", fragment, tuple(options))
    fragment = words[-1]
    lowered = fragment.lower()
    head = " ".join(words[:-1]) + " "
    if lowered:
        options = [name for name in known if _starts_a_word(name, lowered)]
        return Completion(head, fragment, tuple(options))
    return Completion(head, fragment, ())


def suggestion(
    line: str,
    verbs: Iterable[str],
    names: Iterable[str],
    topics: Callable[[str], Iterable[str]] | None = None,
) -> str | None:
    """The line completed with the first option, for the input's ghost text (None if none)."""
    if not line.strip() or "  " in line:
        return None
    found = complete(line, verbs, names, topics)
    if not found.options or not found.fragment:
        return None
    best = found.head + found.options[0]
    if not best.lower().startswith(line.lower()) or len(best) <= len(line):
        return None
    return line + best[len(line) :]
