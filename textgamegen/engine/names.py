"""The world's own names, and which of them a request for prose leaves out.

The narrator must not bring in a person who is not here, a thing that is not in view, or a
place that is neither this room nor one of its ways out: a small model conditioned on one
room drifts to the others it was trained on ("There is no Baker in the Chapel"). The engine
knows the whole world, so it lists, with each request, the names the facts do not give
(``ContentRequest.absent_people`` and ``absent_things``); decoding bars them and the rerank
counts them against a line (``text.canon``).

Only names that cannot be everyday words are listed: a person's full name and the words of
it the world never writes in lower case ("Aldous", not "Keeper"), a thing's name of two
words or more ("brass key", not "rope") or a capitalised one, and a place's name of two
words or more ("Harbour Quay") or a capitalised word of it found nowhere in lower case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from textgamegen.engine.content import ContentRequest
from textgamegen.engine.world import World

_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_SMALL = {"the", "of", "and", "a", "an", "in", "on", "at", "to", "by", "for", "with", "s"}


@dataclass(frozen=True)
class Name:
    """One person, thing or place: its full name and the distinctive words of it."""

    full: str
    words: tuple[str, ...]

    def forms(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.full, *self.words)))


@dataclass(frozen=True)
class WorldNames:
    people: dict[str, Name]
    things: dict[str, Name]
    places: dict[str, Name]


def _texts(world: World) -> list[str]:
    texts = [world.intro, world.win.text]
    for room in world.rooms.values():
        texts += [room.text, *room.colour, *room.scenery.values(), *room.scenery]
        texts += room.when.values()
        texts += [attempt.text for attempt in room.attempts.values()]
    for item in world.items.values():
        texts += [item.text, item.read, item.use.text if item.use else "", *item.when.values()]
    for npc in world.npcs.values():
        texts += [npc.text, npc.persona, npc.greeting, npc.unknown, npc.thanks, npc.refuse]
        texts += [*npc.topics.values(), *npc.topics, *npc.remarks]
    for quest in world.quests.values():
        texts += [quest.text, quest.done_text, quest.next, *quest.reminders, *quest.hints]
    return texts


def _distinctive(name: str, lower: set[str]) -> tuple[str, ...]:
    """The words of a name that only ever appear capitalised in this world."""
    found = []
    for word in _WORD.findall(name):
        word = re.sub(r"['’]s$", "", word)
        if len(word) > 2 and word[0].isupper() and word.casefold() not in lower | _SMALL:
            found.append(word)
    return tuple(found)


def world_names(world: World) -> WorldNames:
    """Every guarded name of a world (the game computes it once)."""
    lower = {word for text in _texts(world) for word in _WORD.findall(text) if word.islower()}
    people = {key: Name(npc.name, _distinctive(npc.name, lower)) for key, npc in world.npcs.items()}
    things = {}
    for key, item in world.items.items():
        words = _distinctive(item.name, lower)
        if len(item.name.split()) > 1 or words:
            things[key] = Name(item.name, words)
    places = {}
    for key, room in world.rooms.items():
        words = _distinctive(room.name, lower)
        plain = [word for word in _WORD.findall(room.name) if word.casefold() not in _SMALL]
        if len(plain) > 1 or words:
            places[key] = Name(room.name, words)
    return WorldNames(people, things, places)


def _named(form: str, facts: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(form)}(?![\w])", facts, re.IGNORECASE) is not None


def absent_names(
    names: WorldNames, world: World, request: ContentRequest, room_key: str
) -> ContentRequest:
    """The request with the world's names its facts leave out filled in.

    Args:
        names: ``world_names(world)``.
        world: the world being played.
        request: a request with its facts set (room, subject, entities, speaker, text).
        room_key: the room the text is about; its ways out are named free.

    Returns:
        A copy with ``absent_people`` and ``absent_things`` (things and places) set.
    """
    room = world.rooms.get(room_key)
    near = {room_key, *(exit_.to for exit_ in room.exits.values())} if room else {room_key}
    facts = request.facts_text()

    def missing(entries: dict[str, Name], free: set[str]) -> list[str]:
        out: list[str] = []
        for key, name in entries.items():
            if key not in free:
                out += [form for form in name.forms() if not _named(form, facts)]
        return out

    people = missing(names.people, set())
    # "Ferrin's Boathouse" names a person too: said of the place, it counts as the person.
    things = [
        form
        for form in missing(names.things, set()) + missing(names.places, near)
        if form not in people
    ]
    return replace(
        request,
        absent_people=tuple(dict.fromkeys(people)),
        absent_things=tuple(dict.fromkeys(things)),
    )
