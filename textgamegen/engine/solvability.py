"""Can a world be won? A relaxed search over what the player can ever reach.

The check follows the engine's own rules (``engine/actions.py``) but drops everything that
takes something away: once a room, an item or a flag is within reach it stays so. That
relaxation only makes winning easier, so when even the relaxed world cannot be won, the
real one cannot either, and the reason it gives holds. Run to a fixed point:

- a room is reached from the start through open exits, exits whose key the player can
  have, or exits a use unlocks;
- an item can be touched where it lies (a reached room, an open or openable container that
  can be touched) and had if it is portable, carried from the start, traded by the NPC
  who holds it, handed over as a quest reward, or revealed by a use;
- a use fires when its item and its target can be touched, its room reached, and what it
  needs can be put in place;
- a quest is done when its goal can be met; the world is won when every quest and flag the
  ``[win]`` table names can be, and its room reached.

Faults that are always mistakes are reported as warnings even when the world can still be
won: containers inside each other (they vanish), and an NPC who "gives" an item that starts
somewhere else (the trade takes the item and gives nothing).

Containers the player moves are modelled exactly, not relaxed: the engine refuses to put a
container into itself, directly or through others (``put``), so carrying, nesting or
dropping containers never hides what they hold, and the search's rule (what is in a
touched container that can be opened can be touched, wherever it was carried) is what
moving them allows. There is no verb that locks a container, so the player cannot shut
anything away for good either. (tests/unit/test_container_cycles.py plays every state of a
small world of nested portable containers to check that verdict against the engine.)

``play`` runs the check on the world it starts (``unwinnable_warning``) and warns when it
cannot be won.

Examples::

    report = check_world(load_world(path))
    report.winnable, report.reasons, report.warnings

    textgamegen worlds --check assets/worlds/lanternfall.toml
"""

from __future__ import annotations

from dataclasses import dataclass, field

from textgamegen.engine.exits import way_key
from textgamegen.engine.world import NOWHERE, PLAYER, GoalKind, QuestState, World


@dataclass
class Solvability:
    """What the check found.

    Attributes:
        winnable: the relaxed world can be won (False means the real one cannot).
        reasons: why it cannot be won, one line each (empty when winnable).
        warnings: faults that are mistakes whether or not the world can be won.
        unreachable_quests: quests that can never be done (warnings when not needed to win).
    """

    winnable: bool
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unreachable_quests: list[str] = field(default_factory=list)


class _Search:
    def __init__(self, world: World) -> None:
        self.world = world
        self.rooms: set[str] = {world.start}
        self.touch: set[str] = set()
        self.have: set[str] = set()
        self.opened: set[str] = set()  # containers the player can open
        self.exits: set[str] = set()  # "room.direction" open or unlockable
        self.flags: set[str] = set()
        self.fired: set[str] = set()  # items whose use can fire
        self.started: set[str] = set()
        self.done: set[str] = set()
        for key, quest in world.quests.items():
            if quest.state in (QuestState.ACTIVE, QuestState.DONE):
                self.started.add(key)
            if quest.state == QuestState.DONE:
                self.done.add(key)

    def run(self) -> None:
        changed = True
        while changed:
            before = self._size()
            self._step()
            changed = self._size() != before

    def _size(self) -> int:
        return sum(
            len(group)
            for group in (
                self.rooms,
                self.touch,
                self.have,
                self.opened,
                self.exits,
                self.flags,
                self.fired,
                self.started,
                self.done,
            )
        )

    def _npc_reached(self, key: str) -> bool:
        return self.world.npcs[key].location in self.rooms

    def _step(self) -> None:
        world = self.world
        for room in list(self.rooms):
            for direction, exit_ in world.rooms[room].exits.items():
                way = way_key(room, direction)
                if not exit_.locked or (exit_.key and exit_.key in self.have):
                    self.exits.add(way)
                if way in self.exits:
                    self.rooms.add(exit_.to)
        for key, item in world.items.items():
            place = item.location
            if place == PLAYER:
                self.touch.add(key)
                self.have.add(key)
            elif (place in world.rooms and place in self.rooms) or (
                place in world.items and place in self.touch and place in self.opened
            ):
                self.touch.add(key)
            if (
                item.container
                and key in self.touch
                and (not item.closed or not item.lock or item.lock in self.have)
            ):
                self.opened.add(key)
            if key in self.touch and item.portable:
                self.have.add(key)
        for npc in world.npcs.values():
            if not self._npc_reached(npc.key) or not npc.wants or npc.wants not in self.have:
                continue
            if npc.gives and world.items[npc.gives].location == npc.key:
                # Traded into the player's hands: held, so it can be used as well.
                self.have.add(npc.gives)
                self.touch.add(npc.gives)
        for key, item in world.items.items():
            use = item.use
            if use is None or key not in self.touch:
                continue
            if use.room and use.room not in self.rooms:
                continue
            if use.on:
                target_ok = (
                    (use.on in self.touch) if use.on in world.items else (self._npc_reached(use.on))
                )
                if not target_ok:
                    continue
                if use.needs and not (
                    use.on in self.opened and all(need in self.have for need in use.needs)
                ):
                    continue
            self.fired.add(key)
            for shown in use.reveals:
                self.touch.add(shown)
                if world.items[shown].portable:
                    self.have.add(shown)
            self.exits.update(use.unlocks)
            for way in use.unlocks:
                room, _, direction = way.partition(".")
                if room in self.rooms:
                    self.rooms.add(world.rooms[room].exits[direction].to)
            if use.flag:
                self.flags.add(use.flag)
        for key, quest in world.quests.items():
            if self._npc_reached(quest.giver):
                self.started.add(key)
            goal = quest.goal
            if goal.kind == GoalKind.BRING:
                met = goal.target in self.have and self._npc_reached(goal.to)
            elif goal.kind == GoalKind.REACH:
                met = key in self.started and goal.target in self.rooms
            else:
                met = key in self.started and self._npc_reached(goal.target)
            if met:
                self.done.add(key)
                if quest.reward:
                    self.touch.add(quest.reward)
                    self.have.add(quest.reward)

    # Why something is out of reach: one step back along what blocks it.

    def why_room(self, key: str) -> str:
        name = f"room '{key}'"
        ways = [
            (room.key, direction, exit_)
            for room in self.world.rooms.values()
            for direction, exit_ in room.exits.items()
            if exit_.to == key
        ]
        if not ways:
            return f"{name} has no exit leading to it"
        blocked = []
        for room, direction, exit_ in ways:
            if room not in self.rooms:
                blocked.append(f"{room}.{direction} starts in a room never reached")
            elif exit_.key:
                blocked.append(
                    f"{room}.{direction} is locked and its key '{exit_.key}' can never be had"
                    f" ({self.why_item(exit_.key, depth=1)})"
                )
            else:
                blocked.append(f"{room}.{direction} is locked and nothing usable unlocks it")
        return f"{name} can never be reached: " + "; ".join(blocked)

    def why_item(self, key: str, depth: int = 0) -> str:
        item = self.world.items[key]
        place = item.location
        if key in self.touch and not item.portable:
            return f"item '{key}' is fixed in place (portable = false)"
        if place in self.world.rooms:
            return (
                f"it lies in room '{place}', which is never reached"
                if depth
                else (f"item '{key}' lies in {self.why_room(place)}")
            )
        if place in self.world.items:
            box = self.world.items[place]
            if _inside(self.world, place, key):
                return f"item '{key}' is inside '{place}', which is inside it: neither is found"
            if place in self.touch and box.lock:
                return (
                    f"item '{key}' is in '{place}', locked with '{box.lock}', which can "
                    "never be had"
                )
            return f"item '{key}' is in '{place}', which can never be reached"
        if place in self.world.npcs:
            npc = self.world.npcs[place]
            if npc.gives == key and npc.wants:
                return (
                    f"item '{key}' is held by '{place}', who trades it only for "
                    f"'{npc.wants}', which can never be had"
                )
            return (
                f"item '{key}' is held by '{place}', who never gives it (not their "
                "'gives', nor a quest reward)"
            )
        if place == NOWHERE:
            return f"item '{key}' starts nowhere and no use that can happen reveals it"
        return f"item '{key}' can never be had"

    def why_quest(self, key: str) -> str:
        quest = self.world.quests[key]
        goal = quest.goal
        if not self._npc_reached(quest.giver) and key not in self.started:
            return (
                f"quest '{key}' is never given: its giver '{quest.giver}' is in "
                f"{self.why_room(self.world.npcs[quest.giver].location)}"
            )
        if goal.kind == GoalKind.BRING:
            if goal.target not in self.have:
                return f"quest '{key}' cannot be done: {self.why_item(goal.target)}"
            return (
                f"quest '{key}' needs '{goal.to}', who is in "
                f"{self.why_room(self.world.npcs[goal.to].location)}"
            )
        if goal.kind == GoalKind.REACH:
            return f"quest '{key}' cannot be done: {self.why_room(goal.target)}"
        return (
            f"quest '{key}' needs '{goal.target}', who is in "
            f"{self.why_room(self.world.npcs[goal.target].location)}"
        )

    def why_flag(self, flag: str) -> str:
        setters = [
            key
            for key, item in self.world.items.items()
            if item.use is not None and item.use.flag == flag
        ]
        if not setters:
            return f"flag '{flag}' is set by no item's use"
        reasons = []
        for key in setters:
            use = self.world.items[key].use
            assert use is not None
            if key not in self.touch:
                reasons.append(self.why_item(key))
            elif use.room and use.room not in self.rooms:
                reasons.append(f"its use needs {self.why_room(use.room)}")
            elif use.on and use.on in self.world.items and use.on not in self.touch:
                reasons.append(f"its use needs {self.why_item(use.on)}")
            else:
                missing = [need for need in use.needs if need not in self.have]
                reasons.append(
                    f"its use needs {self.why_item(missing[0])}"
                    if missing
                    else f"its use on '{use.on}' can never happen"
                )
        return f"flag '{flag}' is never set: " + "; ".join(reasons)


def _inside(world: World, container: str, key: str) -> bool:
    """Whether ``container`` sits, at some depth, inside ``key``."""
    seen: set[str] = set()
    place = container
    while place in world.items and place not in seen:
        if place == key:
            return True
        seen.add(place)
        place = world.items[place].location
    return False


def _structural_warnings(world: World) -> list[str]:
    warnings = []
    looped: set[str] = set()
    for key, item in world.items.items():
        if key in looped or item.location not in world.items:
            continue
        chain = [key]
        place = item.location
        while place in world.items and place not in chain:
            chain.append(place)
            place = world.items[place].location
        if place in chain and place not in looped:
            loop = chain[chain.index(place) :]
            looped.update(loop)
            warnings.append(
                f"[items] {', '.join(sorted(loop))}: these containers are inside each other, "
                "so none of them (nor what they hold) can ever be found"
            )
    for npc in world.npcs.values():
        if npc.gives and world.items[npc.gives].location != npc.key:
            where = world.items[npc.gives].location
            warnings.append(
                f"[npcs.{npc.key}] gives: '{npc.gives}' starts in '{where}', not with "
                f"'{npc.key}', so the trade takes '{npc.wants or 'the item'}' and gives nothing"
            )
        if npc.gives and not npc.wants:
            warnings.append(
                f"[npcs.{npc.key}] gives: '{npc.gives}' but wants nothing, so there is no trade"
            )
    return warnings


def check_world(world: World) -> Solvability:
    """Search the relaxed world; say whether it can be won and why not.

    Args:
        world: a world from ``load_world`` (references already checked).

    Returns:
        The verdict, the reasons it cannot be won, and warnings.
    """
    search = _Search(world)
    search.run()
    reasons = []
    for key in world.win.quests:
        if key not in search.done:
            reasons.append(f"[win] quests: {search.why_quest(key)}")
    for flag in world.win.flags:
        if flag not in search.flags:
            reasons.append(f"[win] flags: {search.why_flag(flag)}")
    if world.win.room and world.win.room not in search.rooms:
        reasons.append(f"[win] room: {search.why_room(world.win.room)}")
    warnings = _structural_warnings(world)
    unreachable = [key for key in world.quests if key not in search.done]
    for key in unreachable:
        if key not in world.win.quests:
            warnings.append(f"[quests.{key}] can never be done: {search.why_quest(key)}")
    return Solvability(not reasons, reasons, warnings, unreachable)


def unwinnable_warning(world: World) -> str:
    """What ``play`` says before a game of a world that cannot be won ("" when it can)."""
    report = check_world(world)
    if report.winnable:
        return ""
    more = len(report.reasons) - 1
    return (
        f"Warning: world '{world.name}' cannot be won: {report.reasons[0]}"
        + (f" (and {more} more reason{'s' if more > 1 else ''})" if more else "")
        + f". 'textgamegen worlds --check {world.name}' says why."
    )
