"""The player's map: where each visited room sits on a grid, and that grid drawn as text.

A room gets its place the first time the player walks in, one step from the room they
came from in the direction they went (``in`` north and ``out`` south); when that cell is
taken, the nearest free one is used. ``up`` is drawn above and ``down`` below, like a
cross-section of a tower, unless the room also has a way north (or in) and south (or out):
then up leans north-east and down south-west, leaving those cells to the ways that really
lie there. Either way an up-or-down link is drawn ``↕``, never ``|`` or ``/``, so it
does not read as north or north-east. Places
are part of the game state and of saves, so the picture never shifts under the player. A
save from before maps existed is given places by walking the visited rooms from the
start (``layout``).

``draw_map`` turns the places into lines of text::

    [Chapel]
        |
    [Square]--[Bakery]
        |
    <Quay  >--[Boats ]?

``<  >`` is the room the player is in; ``?`` is a way out nobody has taken yet; ``↕`` joins
a room to the one up or down from it::

    [Stair ]
        ↕
    [Hall  ]

A map costs at most ``MAX_COLUMNS`` by ``MAX_LINES`` characters to draw, however far apart
its rooms are (a hostile save can place one anywhere within ``MAX_COORD``): rooms too far
from the player to show are left out before the grid is made.
"""

from __future__ import annotations

from collections.abc import Iterable

from textgamegen.engine.world import World

Place = tuple[int, int]

STEPS: dict[str, Place] = {
    "north": (0, -1),
    "south": (0, 1),
    "east": (1, 0),
    "west": (-1, 0),
    "northeast": (1, -1),
    "northwest": (-1, -1),
    "southeast": (1, 1),
    "southwest": (-1, 1),
    # Up is drawn above and down below; see LEANING for rooms with a way north or south.
    "up": (0, -1),
    "down": (0, 1),
    "in": (0, -1),
    "out": (0, 1),
}
LEANING: dict[str, tuple[Place, tuple[str, ...]]] = {
    "up": ((1, -1), ("north", "in")),
    "down": ((-1, 1), ("south", "out")),
}
"""Where up and down go from a room whose own ways north (or in) and south (or out) want
the cells above and below: on the diagonal, still joined by ``↕``."""
VERTICAL = ("up", "down")
UP_DOWN = "↕"
"""How a link between a room and the one up or down from it is drawn."""
PLANAR = ("north", "south", "east", "west", "northeast", "northwest", "southeast", "southwest")
LABEL = 6
"""Characters of a room's label; a box is ``[`` + label + ``]``."""
GAP = 2
"""Columns between two boxes, where the east-west links are drawn."""
PITCH = LABEL + 2 + GAP
LEGEND = "<> you are here · ? a way not taken"
LEGEND_UP_DOWN = " · ↕ up and down"
"""Added to the legend of a map that shows an up-or-down link."""


def legend(lines: Iterable[str]) -> str:
    """The legend for these map lines: ``↕`` is explained only where it is drawn."""
    return LEGEND + (LEGEND_UP_DOWN if any(UP_DOWN in line for line in lines) else "")


MAX_COORD = 1000
"""How many cells from the start a room's place may be, either way. A real map spans a few
dozen (each room lands next to the one it was reached from); saves are held to this."""
MAX_COLUMNS = 240
MAX_LINES = 120
"""The largest map drawn, in characters and lines; what lies farther from the player's
room is cropped away before the grid is made, so drawing never allocates more."""


def in_bounds(cell: Place) -> bool:
    """Whether a place is within ``MAX_COORD`` of the start, both ways."""
    return all(abs(value) <= MAX_COORD for value in cell)


def _nearby(origin: Place, first: Place) -> Iterable[Place]:
    """Cells around ``origin``, ring by ring; in each ring, those nearest the ``first``
    step's direction come first, so a room lands as close as it can to where it lies."""
    aim = (origin[0] + first[0], origin[1] + first[1])
    for radius in range(1, 20):
        ring = [
            (origin[0] + dx, origin[1] + dy)
            for dy in range(-radius, radius + 1)
            for dx in range(-radius, radius + 1)
            if max(abs(dx), abs(dy)) == radius
        ]
        ring.sort(key=lambda cell: ((cell[0] - aim[0]) ** 2 + (cell[1] - aim[1]) ** 2, cell))
        yield from ring


def place_room(
    places: dict[str, Place],
    came_from: str,
    direction: str,
    room: str,
    ways: Iterable[str] = (),
) -> None:
    """Give ``room`` a place, reached from ``came_from`` by ``direction``, unless it has one.

    ``ways``: the directions out of ``came_from``; up and down lean onto the diagonal when
    it also has the ways north or south that want the cells above and below (``LEANING``).
    """
    if room in places:
        return
    origin = places.get(came_from, (0, 0))
    taken = set(places.values())
    step = STEPS.get(direction, (1, 0))
    if direction in LEANING:
        lean, rivals = LEANING[direction]
        if any(way in rivals for way in ways):
            step = lean
    for cell in _nearby(origin, step):
        if cell not in taken:
            places[room] = cell
            return


def layout(world: World, visited: Iterable[str], start: str | None = None) -> dict[str, Place]:
    """Places for the visited rooms, walking their exits from the start (old saves)."""
    seen = set(visited)
    start = start or world.start
    places: dict[str, Place] = {start: (0, 0)}
    queue = [start]
    while queue:
        key = queue.pop(0)
        for direction, exit_ in world.rooms[key].exits.items():
            if exit_.to in seen and exit_.to not in places:
                place_room(places, key, direction, exit_.to, world.rooms[key].exits)
                queue.append(exit_.to)
    # A visited room no walk from the start reaches (a save that teleported) still shows.
    for key in sorted(seen - set(places)):
        place_room(places, start, "east", key)
    return places


def label(world: World, room: str) -> str:
    """The room's short name for the map: ``short``, else the last word of its name."""
    found = world.rooms[room]
    text = found.short or (found.name.split() or ["?"])[-1]
    return text[:LABEL].ljust(LABEL)


def draw_map(
    world: World,
    places: dict[str, Place],
    here: str,
    *,
    width: int | None = None,
    height: int | None = None,
) -> list[str]:
    """The map as lines of text.

    Args:
        world: the world the rooms come from.
        places: room key -> cell, for the rooms to draw (the visited ones).
        here: the player's room, drawn ``<like this>``.
        width: crop to this many columns, keeping ``here`` in view (None, and at most:
            ``MAX_COLUMNS``).
        height: crop to this many lines, keeping ``here`` in view (None, and at most:
            ``MAX_LINES``).

    Returns:
        The lines, right-stripped; no legend (``LEGEND`` says what the marks mean).
    """
    if not places:
        return []
    width = MAX_COLUMNS if width is None else max(1, min(width, MAX_COLUMNS))
    height = MAX_LINES if height is None else max(1, min(height, MAX_LINES))
    places = _near(places, here, width, height)
    xs = [x for x, _ in places.values()]
    ys = [y for _, y in places.values()]
    left, top = min(xs), min(ys)
    # One blank line above and below and a column either side, where ways not taken from
    # the rooms at the edge are marked.
    columns = (max(xs) - left + 1) * PITCH + 2
    rows = (max(ys) - top) * 2 + 3
    grid = [[" "] * columns for _ in range(rows)]
    at = {cell: room for room, cell in places.items()}

    def put(row: int, column: int, char: str) -> None:
        if 0 <= row < rows and 0 <= column < columns and grid[row][column] == " ":
            grid[row][column] = char

    for room, (x, y) in places.items():
        row, column = (y - top) * 2 + 1, (x - left) * PITCH + 1
        opening, closing = ("<", ">") if room == here else ("[", "]")
        for offset, char in enumerate(opening + label(world, room) + closing):
            grid[row][column + offset] = char
    for room, (x, y) in places.items():
        row, column = (y - top) * 2 + 1, (x - left) * PITCH + 1
        for direction, exit_ in world.rooms[room].exits.items():
            target = places.get(exit_.to)
            if target is None:
                if direction in PLANAR:
                    _stub(put, row, column, STEPS[direction])
                continue
            step = (target[0] - x, target[1] - y)
            if max(abs(step[0]), abs(step[1])) != 1 or at.get(target) != exit_.to:
                continue  # only neighbours are joined; a long way shows on neither
            _link(put, row, column, step, UP_DOWN if direction in VERTICAL else "")
    lines = ["".join(line).rstrip() for line in grid]
    hx, hy = places.get(here, (left, top))
    row, column = (hy - top) * 2 + 1, (hx - left) * PITCH + 1
    if not any(line[:1].strip() for line in lines):  # no mark in the left margin
        lines = [line[1:] for line in lines]
        column -= 1
    if not lines[0]:
        lines, row = lines[1:], row - 1
    if not lines[-1]:
        lines = lines[:-1]
    margin = 1 if column % PITCH else 0
    return _crop(lines, row, column + PITCH // 2, width, height, margin)


def _near(places: dict[str, Place], here: str, width: int, height: int) -> dict[str, Place]:
    """The rooms that can show in a ``width`` x ``height`` crop around ``here``, with two
    cells to spare each way (so the links and marks at the crop's edge are drawn as they
    would be on the whole map); the rest could only be cropped away after drawing."""
    center = places.get(here) or (
        min(x for x, _ in places.values()),
        min(y for _, y in places.values()),
    )
    reach_x = width // PITCH + 2
    reach_y = height // 2 + 2
    return {
        room: (x, y)
        for room, (x, y) in places.items()
        if abs(x - center[0]) <= reach_x and abs(y - center[1]) <= reach_y
    }


def _link(put, row: int, column: int, step: Place, mark: str = "") -> None:
    """Join a room to its neighbour one ``step`` away; ``mark`` draws an up-or-down link."""
    dx, dy = step
    middle = column + LABEL // 2 + 1
    if dy == 0:
        edge = column + LABEL + 2 if dx > 0 else column - GAP
        for offset in range(GAP):
            put(row, edge + offset, mark if mark and offset == 0 else "-")
    elif dx == 0:
        put(row + dy, middle, mark or "|")
    elif dx > 0:
        slash = "\\" if dy > 0 else "/"
        put(row + dy, column + LABEL + 2 + (0 if dy > 0 else 1), mark or slash)
    else:
        slash = "/" if dy > 0 else "\\"
        put(row + dy, column - GAP + (1 if dy > 0 else 0), mark or slash)


def _stub(put, row: int, column: int, step: Place) -> None:
    dx, dy = step
    if dy == 0:
        put(row, column + LABEL + 2 if dx > 0 else column - 1, "?")
    elif dx == 0:
        put(row + dy, column + LABEL // 2 + 1, "?")
    elif dx > 0:
        put(row + dy, column + LABEL + 2, "?")
    else:
        put(row + dy, column - 1, "?")


def _crop(
    lines: list[str],
    row: int,
    column: int,
    width: int | None,
    height: int | None,
    margin: int = 0,
) -> list[str]:
    if height is not None and len(lines) > height:
        first = min(max(0, row - height // 2), len(lines) - height)
        lines = lines[first : first + height]
    if width is not None:
        longest = max((len(line) for line in lines), default=0)
        if longest > width:
            # Whole rooms only: the window starts at a room's column, never mid-box.
            cells = max(1, (width + GAP) // PITCH)
            total = (longest - margin + GAP + PITCH - 1) // PITCH
            first_cell = min(max(0, column // PITCH - cells // 2), max(0, total - cells))
            first = first_cell * PITCH + margin
            lines = [line[first : first + width].rstrip() for line in lines]
    return lines
