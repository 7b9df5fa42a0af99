"""What the narrator may not contradict: the ways out of a room.

The engine owns the map. A room's line of colour that says "a path leads north" where
the room has no north exit sends the player the wrong way, and playing Wonderland showed
the narrator doing it ("Exit to the north, east, west..." in a wood whose ways out are
south and east). A request about a room carries its exits (``ContentRequest.exits``);
the compass words that are *not* among them are barred while decoding (``barred_words``)
and count against a candidate in the rerank (``false_directions``), which also covers a
model server that decodes on its own.

Only the eight compass points are guarded: "up", "down", "in" and "out" are everyday
words that no sentence could do without.
"""

from __future__ import annotations

import re

from textgamegen.engine.content import ContentRequest
from textgamegen.engine.world import DIRECTIONS

COMPASS = tuple(d for d in DIRECTIONS if d not in ("up", "down", "in", "out"))
_DIRECTION = re.compile(
    r"\b(north|south)[\s-]?(east|west)\b|\b(north|south|east|west)\b", re.IGNORECASE
)


def named_directions(text: str) -> list[str]:
    """The compass points ``text`` names, in order, each once ("north-east" is one)."""
    named: list[str] = []
    for match in _DIRECTION.finditer(text):
        word = (match.group(1) + match.group(2) if match.group(1) else match.group(3)).casefold()
        if word not in named:
            named.append(word)
    return named


def barred_words(request: ContentRequest) -> list[str]:
    """Compass points the text must not name: those that are not a way out of the room
    (none when the request is not about a room's layout). A point the facts name
    themselves stays free: the North Tower may be called by its name, and a world's own
    "the sea lies to the west" may be echoed."""
    if request.exits is None:
        return []
    free = {direction.casefold() for direction in request.exits}
    for fact in (request.subject, request.room, request.authored, *request.entities):
        free.update(named_directions(fact))
    return [direction for direction in COMPASS if direction not in free]


def false_directions(text: str, request: ContentRequest) -> list[str]:
    """The compass points ``text`` names that are not among the request's exits."""
    barred = set(barred_words(request))
    if not barred:
        return []
    return [word for word in named_directions(text) if word in barred]
