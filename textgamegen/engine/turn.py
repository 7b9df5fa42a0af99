"""What one step has produced so far, and how the engine phrases lists of things.

Actions write into a ``Turn``; ``Game.step`` turns it into a ``StepResult``. This module
knows nothing of ``Game``, so the actions can use it without importing the game loop.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

from textgamegen.engine.content import ContentKind, ContentRequest, Event, EventKind
from textgamegen.engine.world import with_article


def derive_seed(seed: int, *parts: object) -> int:
    """A stable 31-bit seed from the game seed and any parts (turn, index, retry)."""
    text = ":".join(str(part) for part in (seed, *parts))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big") >> 1


def new_seed() -> int:
    """A fresh game seed (31 bits, like the request seeds), so each new game tells its own
    story; ``play --seed N`` and scripts give one instead, to tell the same story again."""
    return secrets.randbelow(1 << 31)


def name_list(names: list[str], article: bool = True) -> str:
    """Names joined as English ("a, b and c"); ``article`` puts "a"/"an" before each.

    Item lists go through ``Game.item_list``, which uses each item's own article.
    """
    shown = [with_article(name) if article else name for name in names]
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + " and " + shown[-1]


def prose_request(
    kind: ContentKind,
    subject: str,
    fallback: str,
    cache_key: str | None = None,
    entities: tuple[str, ...] = (),
    authored: str = "",
    **extra: Any,
) -> ContentRequest:
    """A request for prose; seed, room, command and story are filled in by the step.

    Authored text is canon: the step shows it as the engine's own text, and the request
    only asks for a line of colour after it (so it has no fallback of its own).
    """
    names = tuple(dict.fromkeys(name for name in (subject, *entities) if name))
    authored = authored.strip()
    return ContentRequest(
        kind=kind,
        subject=subject,
        entities=names,
        cache_key=cache_key,
        fallback="" if authored else fallback,
        authored=authored,
        **extra,
    )


@dataclass
class Turn:
    """What one step has produced so far."""

    events: list[Event] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    prose: list[ContentRequest] = field(default_factory=list)
    refused: bool = False
    """The command was not understood well enough to act; no turn passes."""
    quit: bool = False
    retried: list[ContentRequest] = field(default_factory=list)
    """Requests from "retry": already seeded, passed through as they are."""

    def say(self, text: str, kind: EventKind = EventKind.TEXT) -> None:
        self.events.append(Event(kind, text))

    def refuse(self, text: str) -> None:
        self.events.append(Event(EventKind.ERROR, text))
        self.refused = True

    def fail(self, text: str) -> None:
        """The action was tried and did not work; the turn still passes."""
        self.events.append(Event(EventKind.ERROR, text))

    def ask(self, request: ContentRequest) -> None:
        """Queue prose; its authored text, if any, is shown now as the engine's own."""
        if request.authored:
            self.say(request.authored)
        self.prose.append(request)
