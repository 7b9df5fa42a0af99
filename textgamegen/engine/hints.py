"""``hint``: a nudge towards the next step, plainer each time it is asked for.

The world gives each quest (and the ``[win]`` table) a list of ``hints``, vaguest first.
After the last of them, the game works the next step out from the state itself: who holds
the thing a quest wants and what they will trade it for, which room to reach, whom to talk
to, or which item still has to be used. So even a world with no hints never leaves the
player without one, and no hint gives the answer away at the first ask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textgamegen.engine.exits import way_key
from textgamegen.engine.quests import goal_text
from textgamegen.engine.world import NOWHERE, PLAYER, GoalKind, QuestState

if TYPE_CHECKING:
    from textgamegen.engine.game import Game

WON = "You have won. There is nothing more you must do, but you may wander on."


def _where(game: Game, place: str) -> str:
    """A room the player knows, or "somewhere you have not been yet"."""
    if place in game.world.rooms and place in game.state.visited:
        return game.world.rooms[place].name
    return "somewhere you have not been yet"


def _room_of(game: Game, key: str) -> str:
    """The room an item or NPC is in, following containers and holders ("" if none)."""
    seen: set[str] = set()
    place = key
    while place not in seen:
        seen.add(place)
        if place in game.world.npcs:
            return game.world.npcs[place].location
        if place in game.world.rooms:
            return place
        if place in (PLAYER, NOWHERE):
            return ""
        place = game.state.locations.get(place, NOWHERE)
    return ""


def _find(game: Game, item: str) -> str:
    """The plain next step towards having ``item``."""
    name = game.name_of(item)
    holder = game.state.locations[item]
    if holder in game.world.npcs:
        npc = game.npc(holder)
        where = _where(game, npc.location)
        if npc.gives == item and npc.wants:
            price = game.item(npc.wants)
            return f"{npc.name} ({where}) has the {name}, and will trade it for {price.indefinite}."
        for _key, quest in game.world.quests.items():
            if quest.reward == item and quest.giver == holder:
                return f"{npc.name} ({where}) will give you the {name} for {quest.title}."
        return f"{npc.name} ({where}) has the {name}."
    if holder == NOWHERE:
        for _key, thing in game.world.items.items():
            if thing.use and item in thing.use.reveals:
                return f"Use the {thing.name} to find the {name}."
        return f"The {name} is not to be found yet."
    room = _room_of(game, item)
    if holder in game.world.items:
        return f"The {name} is in the {game.name_of(holder)}, {_where(game, room)}."
    return f"The {name} is {_where(game, room)}."


def next_step(game: Game, quest_key: str) -> str:
    """The plain next step of an active quest, worked out from the state."""
    goal = game.world.quests[quest_key].goal
    if goal.kind == GoalKind.BRING:
        person = game.npc(goal.to)
        if game.state.locations[goal.target] == PLAYER:
            return (
                f"Give the {game.name_of(goal.target)} to {person.name} "
                f"({_where(game, person.location)})."
            )
        return _find(game, goal.target)
    if goal.kind == GoalKind.REACH:
        room = game.world.rooms[goal.target]
        for other in game.world.rooms.values():
            for exit_ in other.exits.values():
                way = way_key(other.key, exit_.direction)
                if exit_.to == room.key and exit_.locked and way not in game.state.unlocked:
                    opener = exit_.key and game.name_of(exit_.key)
                    if not opener:
                        opener = next(
                            (
                                item.name
                                for item in game.world.items.values()
                                if item.use and way in item.use.unlocks
                            ),
                            "",
                        )
                    how = f" The way from {other.name} opens with the {opener}." if opener else ""
                    return f"Go to {room.name}.{how}"
        return f"Go to {room.name}."
    npc = game.npc(goal.target)
    return f"Talk to {npc.name} ({_where(game, npc.location)})."


def _final_step(game: Game) -> str:
    """The plain next step when no quest is active: a quest to find, or a flag to set."""
    win = game.world.win
    for key in win.quests:
        if game.state.quests[key] == QuestState.NOT_STARTED:
            giver = game.npc(game.world.quests[key].giver)
            return f"{giver.name} ({_where(game, giver.location)}) needs your help. Talk to them."
    for flag in win.flags:
        if flag in game.state.flags:
            continue
        for item in game.world.items.values():
            if item.use and item.use.flag == flag:
                target = f" on the {game.name_of(item.use.on)}" if item.use.on else ""
                missing = [game.name_of(k) for k in item.use.needs]
                needs = (
                    f" It needs the {', the '.join(missing)} in the {game.name_of(item.use.on)}."
                    if missing
                    else ""
                )
                return f"Use the {item.name}{target}.{needs}"
    if win.room and game.state.room != win.room:
        return f"Go to {game.world.rooms[win.room].name}."
    return "Talk to the people you meet; someone may need your help."


def hint(game: Game, levels: dict[str, int]) -> str:
    """The hint to show now, and the level raised so the next one is plainer.

    Args:
        game: the game; only read.
        levels: how many hints each quest (or "win") has had; updated here.

    Returns:
        One or two sentences for the player.
    """
    if game.state.won:
        return WON
    active = [key for key, state in game.state.quests.items() if state == QuestState.ACTIVE]
    if active:
        key = active[0]
        quest = game.world.quests[key]
        steps = [*quest.hints] or [f"Your journal says: {goal_text(game, key)}"]
        steps.append(next_step(game, key))
        title = quest.title
    else:
        key = "win"
        steps = [*game.world.win.hints, _final_step(game)]
        title = "what now"
    level = levels.get(key, 0)
    levels[key] = level + 1
    text = steps[min(level, len(steps) - 1)]
    more = " (Ask again for a plainer hint.)" if level < len(steps) - 1 else ""
    return f"Hint ({title}): {text}{more}"
