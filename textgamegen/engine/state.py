"""The mutable part of a game: where things are, what is open, how the quests stand.

Everything the player can change lives in ``GameState`` and nowhere else, so undo is a
copy of it and a save is its ``to_dict``. The world itself never changes while playing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from textgamegen.engine.exits import way_key
from textgamegen.engine.maps import MAX_COORD, Place, in_bounds, layout, place_room
from textgamegen.engine.world import NOWHERE, PLAYER, QUEST_STATES, QuestState, World

STORY_LIMIT = 60


class StateError(ValueError):
    """Saved state does not fit the world (a missing room or item, a bad value)."""


@dataclass
class GameState:
    """Attributes:
    room: the current room's key.
    turn: turns taken so far.
    locations: item key -> room, container item, NPC, "player" or "nowhere".
    closed: containers now closed.
    locked: containers now locked.
    unlocked: exits unlocked so far, as "room.direction".
    quests: quest key -> how it stands (saved as "not started", "active" or "done").
    flags: story flags set by using items.
    visited: rooms entered at least once.
    story: recent story lines (engine text and prose), oldest first.
    won: the winning condition has been met.
    places: where each visited room sits on the player's map (``engine/maps.py``).
    """

    room: str
    turn: int = 0
    locations: dict[str, str] = field(default_factory=dict)
    closed: set[str] = field(default_factory=set)
    locked: set[str] = field(default_factory=set)
    unlocked: set[str] = field(default_factory=set)
    quests: dict[str, QuestState] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    visited: set[str] = field(default_factory=set)
    story: list[str] = field(default_factory=list)
    won: bool = False
    places: dict[str, Place] = field(default_factory=dict)

    @classmethod
    def initial(cls, world: World) -> GameState:
        return cls(
            room=world.start,
            locations={key: item.location for key, item in world.items.items()},
            closed={key for key, item in world.items.items() if item.closed},
            locked={key for key, item in world.items.items() if item.lock},
            quests={key: quest.state for key, quest in world.quests.items()},
            visited={world.start},
            places={world.start: (0, 0)},
        )

    def copy(self) -> GameState:
        return copy.deepcopy(self)

    def add_story(self, line: str) -> None:
        if line.strip():
            self.story.append(line.strip())
            del self.story[:-STORY_LIMIT]

    def to_dict(self) -> dict[str, Any]:
        return {
            "room": self.room,
            "turn": self.turn,
            "locations": dict(sorted(self.locations.items())),
            "closed": sorted(self.closed),
            "locked": sorted(self.locked),
            "unlocked": sorted(self.unlocked),
            "quests": {key: QuestState(state).value for key, state in sorted(self.quests.items())},
            "flags": sorted(self.flags),
            "visited": sorted(self.visited),
            "story": list(self.story),
            "won": self.won,
            "map": {room: [x, y] for room, (x, y) in sorted(self.places.items())},
        }

    @classmethod
    def from_dict(cls, data: Any, world: World) -> GameState:
        """Rebuild state saved for ``world``; items the save does not know start where the
        world puts them, anything the world does not know is an error."""
        if not isinstance(data, dict):
            raise StateError("state must be an object")
        state = cls.initial(world)
        room = data.get("room")
        if not isinstance(room, str) or room not in world.rooms:
            raise StateError(f"room '{room}' is not in world '{world.name}'")
        state.room = room
        turn = data.get("turn", 0)
        if not isinstance(turn, int) or isinstance(turn, bool) or turn < 0:
            raise StateError("turn must be a whole number, 0 or more")
        state.turn = turn
        places = set(world.rooms) | set(world.items) | set(world.npcs) | {PLAYER, NOWHERE}
        for key, place in _mapping(data, "locations").items():
            if key not in world.items:
                raise StateError(f"item '{key}' is not in world '{world.name}'")
            if place not in places:
                raise StateError(
                    f"item '{key}' is in '{place}', which is not in world '{world.name}'"
                )
            state.locations[key] = place
        _no_loops(state.locations, world)
        state.closed = _keys(data, "closed", world.items, world.name)
        state.locked = _keys(data, "locked", world.items, world.name)
        exits = {way_key(room.key, way) for room in world.rooms.values() for way in room.exits}
        state.unlocked = _keys(data, "unlocked", exits, world.name)
        for key, value in _mapping(data, "quests").items():
            if key not in world.quests:
                raise StateError(f"quest '{key}' is not in world '{world.name}'")
            if value not in QUEST_STATES:
                raise StateError(f"quest '{key}' has state '{value}'")
            state.quests[key] = QuestState(value)
        state.flags = set(_strings(data, "flags"))
        state.visited = _keys(data, "visited", world.rooms, world.name) | {state.room}
        state.story = _strings(data, "story")[-STORY_LIMIT:]
        won = data.get("won", False)
        if not isinstance(won, bool):
            raise StateError("won must be true or false")
        state.won = won
        state.places = _places(data, world, state.visited)
        return state


def _places(data: dict[str, Any], world: World, visited: set[str]) -> dict[str, Place]:
    """The saved map, or (a save from before maps) one laid out from the visited rooms."""
    saved = data.get("map")
    if saved is None:
        return layout(world, visited)
    if not isinstance(saved, dict):
        raise StateError("map must map rooms to [x, y]")
    places: dict[str, Place] = {}
    for room, cell in saved.items():
        if room not in world.rooms:
            raise StateError(f"map: '{room}' is not in world '{world.name}'")
        if not (
            isinstance(cell, list)
            and len(cell) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in cell)
        ):
            raise StateError(f"map: '{room}' must be at [x, y]")
        if not in_bounds((cell[0], cell[1])):
            raise StateError(
                f"map: '{room}' is at {cell}, more than {MAX_COORD} cells from the start"
            )
        places[room] = (cell[0], cell[1])
    missing = visited - set(places)
    if missing:  # a room the saved map lacks still gets a place
        for room, cell in layout(world, visited).items():
            if room in missing and cell not in places.values():
                places[room] = cell
        for room in sorted(visited - set(places)):
            place_room(places, world.start, "east", room)
    return places


def _no_loops(locations: dict[str, str], world: World) -> None:
    """Refuse items inside each other (a in b, b in a): no one could reach them, and they
    would vanish from the game. ``put`` never makes such a loop; only a crafted save can
    (a world that starts with one is the modder's to fix: ``worlds --check`` warns)."""
    done: set[str] = set()
    for start in locations:
        chain: list[str] = []
        place = start
        while place in locations and place not in done and place not in chain:
            chain.append(place)
            place = locations[place]
        if place in chain:
            loop = chain[chain.index(place) :]
            if any(locations[key] != world.items[key].location for key in loop):
                raise StateError(f"items {', '.join(sorted(loop))} are inside each other")
        done.update(chain)


def _mapping(data: dict[str, Any], key: str) -> dict[str, str]:
    value = data.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise StateError(f"{key} must map names to strings")
    return value


def _strings(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise StateError(f"{key} must be a list of strings")
    return value


def _keys(data: dict[str, Any], key: str, known: Any, world: str) -> set[str]:
    values = set(_strings(data, key))
    unknown = sorted(values - set(known))
    if unknown:
        raise StateError(f"{key}: '{unknown[0]}' is not in world '{world}'")
    return values
