"""The descriptions a player can ask for: a room, an item, a person.

Each request is built here and only here. The step asks for one when the player goes
somewhere or examines something, and ``prefetch_requests`` asks for the same ones ahead
of time, while the player reads; because both call the same function, text written ahead
is exactly what the step then finds in the cache (same cache key, subject, entities,
fallback and persona).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import replace
from typing import TYPE_CHECKING

from textgamegen.engine.content import ContentKind, ContentRequest
from textgamegen.engine.exits import is_locked
from textgamegen.engine.names import absent_names
from textgamegen.engine.turn import derive_seed, prose_request
from textgamegen.engine.world import Item, Npc, Room

if TYPE_CHECKING:
    from textgamegen.engine.game import Game

STORY_CONTEXT = 6
"""How many recent story lines a request carries as context."""
PREFETCH_LIMIT = 8
"""At most this many descriptions are written ahead while the player reads."""


def room_fallback(room: Room, text: str | None = None) -> str:
    """The room's text (``text``: as it stands now), or a plain line when it has none."""
    text = room.text if text is None else text
    return text or f"You are in {room.name}."


def item_fallback(item: Item, text: str | None = None) -> str:
    text = item.text if text is None else text
    if text:
        return text
    if item.plural:
        return f"They are {item.indefinite.removeprefix('some ')}, much like any others."
    return f"It is {item.indefinite}, much like any other."


def npc_fallback(npc: Npc) -> str:
    return npc.text or npc.persona or f"You see {npc.name}."


def room_entities(game: Game, room_key: str) -> tuple[str, ...]:
    """Who and what a room's description should mention: its people, then its items."""
    people = [npc.name for npc in game.world.npcs.values() if npc.location == room_key]
    here = [game.item(key).name for key in game.contents(room_key)]
    return tuple(people + here)


def _cache_key(kind: str, key: str, flag: str) -> str:
    """A description's cache key; text that holds after a flag ("when") has its own, so
    prose written for the cold lamp room is not shown once the lantern is lit."""
    return f"{kind}:{key}:{flag}" if flag else f"{kind}:{key}"


def room_description(game: Game, room: Room) -> ContentRequest:
    """A room's description (its authored text is canon, the model adds colour)."""
    return _room_request(game, room, ContentKind.ROOM, authored=True)


def _named(words: Collection[str], text_words: Collection[str]) -> bool:
    """Whether every word is among ``text_words``, a plural or singular counting ("x plaque"
    names "plaques", "x lamps" names "lamp")."""
    forms = set(text_words)
    forms |= {word.removesuffix("es") for word in text_words} | {w.rstrip("s") for w in forms}
    return all(word in forms or word.rstrip("s") in forms for word in words)


FILLER = frozenset(
    {"and", "with", "from", "into", "onto", "its", "his", "her", "their", "you", "your"}
    | {"are", "was", "were", "has", "have", "for", "but", "not", "out", "all", "each"}
    | {"there", "here", "far", "below", "above", "towards", "toward", "every", "one"}
    | {"beneath", "under", "over", "behind", "along", "around", "through", "across", "like"}
)
"""Words of a room's text that name nothing to look at ("x with", "look at below")."""


def room_noun_description(game: Game, room: Room, words: list[str]) -> ContentRequest | None:
    """What "x window" asks for when the room's own text names a window but the world lists
    no scenery for it: a description of that thing grounded in the room's text, cached
    per thing, or None when the text names no such thing.

    The engine's plain line (the template's, and any narrator's fallback) is the text's
    own sentence that names the thing, and a plain word that there is no more to it.
    """
    text, flag = room.text_now(game.state.flags)
    named = [word for word in words if len(word) > 2 and word not in FILLER]
    if not named or len(named) != len(words):
        return None
    if not _named(named, re.findall(r"[^\W_]+", f"{room.name} {text}".casefold())):
        return None
    sentences = [line for line in re.split(r"(?<=[.!?])\s+", text) if line.strip()]
    naming = [line for line in sentences if _named(named, re.findall(r"[^\W_]+", line.casefold()))]
    thing = " ".join(words)
    seen = " ".join(naming or sentences[:1])
    return prose_request(
        ContentKind.ITEM,
        thing,
        f"{seen} Nothing more about the {thing} catches your eye.".strip(),
        cache_key=_cache_key("scenery", f"{room.key}:{thing}", flag),
        room_text=text,
    )


def _room_request(
    game: Game, room: Room, kind: ContentKind, authored: bool = False
) -> ContentRequest:
    # Both share the room's cache entry, and both carry its exits (see generation.canon).
    text, flag = room.text_now(game.state.flags)
    return prose_request(
        kind,
        room.name,
        room_fallback(room, text),
        cache_key=_cache_key("room", room.key, flag),
        entities=room_entities(game, room.key),
        authored=text if authored else "",
        exits=tuple(room.exits),
    )


def item_description(item: Item, flags: Collection[str] = ()) -> ContentRequest:
    """An item's description, its text as it stands with the story ``flags`` set."""
    text, flag = item.text_now(flags)
    return prose_request(
        ContentKind.ITEM,
        item.name,
        item_fallback(item, text),
        cache_key=_cache_key("item", item.key, flag),
        authored=text,
    )


def npc_description(npc: Npc) -> ContentRequest:
    return prose_request(
        ContentKind.ITEM,
        npc.name,
        npc_fallback(npc),
        cache_key=f"npc:{npc.key}",
        authored=npc.text,
        persona=npc.persona,
    )


def likely_descriptions(game: Game) -> list[ContentRequest]:
    """What the player is likely to ask for next, most likely first, each as the step
    would ask for it: the rooms behind the open exits ("go <exit>"), those not visited
    yet first (a first visit is the one that has no text yet; a room seen before is
    asked for again only when its text changed), then the items in view and the people
    here ("examine <thing>")."""
    here = game.room()
    # The command as the step would record it: the parser lower-cases what is typed.
    wanted: list[ContentRequest] = []
    exits = sorted(here.exits.items(), key=lambda way: way[1].to in game.state.visited)
    for direction, exit_ in exits:
        if not is_locked(game, exit_):
            room = game.world.rooms[exit_.to]
            request = room_description(game, room)
            request = replace(request, command=f"go {direction}", room=room.name)
            wanted.append(absent_names(game.names, game.world, request, exit_.to))
    for key in game.visible_items():
        request = item_description(game.item(key), game.state.flags)
        command = f"examine {request.subject}".casefold()
        request = replace(request, command=command, room=here.name)
        wanted.append(absent_names(game.names, game.world, request, here.key))
    for key in game.npcs_here():
        request = npc_description(game.npc(key))
        command = f"examine {request.subject}".casefold()
        request = replace(request, command=command, room=here.name)
        wanted.append(absent_names(game.names, game.world, request, here.key))
    return wanted


def prefetch_requests(game: Game, limit: int = PREFETCH_LIMIT) -> list[ContentRequest]:
    """Descriptions the player is likely to ask for next and that are not cached yet.

    Text written for one ahead of time and handed back with ``fulfil(request, text,
    seen=False)`` is what the step then shows from the cache. Seeds come from the game
    seed and the cache key. Nothing here changes the game.

    Returns:
        At most ``limit`` requests with ``cache_key`` set, most likely first.
    """
    story = tuple(game.state.story[-STORY_CONTEXT:])
    requests: list[ContentRequest] = []
    keys: set[str] = set()
    for request in likely_descriptions(game):
        key = request.cache_key or ""
        if key in game.cache or key in keys:
            continue
        keys.add(key)
        seed = derive_seed(game.seed, "prefetch", key)
        requests.append(replace(request, seed=seed, story=story, tone=game.tone()))
    return requests[:limit]
