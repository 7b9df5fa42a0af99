"""What each verb does. ``ACTIONS`` maps a parser action to a handler.

A handler is ``handler(game, turn, command)``: it reads and changes ``game.state``, says
what happened through ``turn`` and queues prose with ``turn.ask`` (descriptions come
from ``engine/descriptions.py``). ``turn.refuse`` means the command was not understood
(no turn passes); ``turn.fail`` means it was tried and did not work (the turn passes, as
in most parser games). Actions import ``Game`` only for typing: ``game.py`` imports them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from textgamegen.engine.content import ContentKind, EventKind
from textgamegen.engine.descriptions import (
    item_description,
    npc_description,
    room_description,
    room_noun_description,
)
from textgamegen.engine.exits import door_keys, exit_direction, exit_key, is_locked, way_key
from textgamegen.engine.hints import hint as next_hint
from textgamegen.engine.maps import draw_map, legend, place_room
from textgamegen.engine.nouns import match, names_any, resolve
from textgamegen.engine.parser import DIRECTION_WORDS, WORLD_VERB, Command, noun_words
from textgamegen.engine.quests import complete_quest, goal_text, start_quest
from textgamegen.engine.saves import SaveError, save_name, saved_text
from textgamegen.engine.state import StateError
from textgamegen.engine.turn import Turn, name_list, prose_request
from textgamegen.engine.vocabulary import COMMON_VERBS, is_known, nearest, verb_of
from textgamegen.engine.world import DIRECTIONS, NOWHERE, PLAYER, GoalKind, Item, QuestState

if TYPE_CHECKING:
    from textgamegen.engine.game import Game

Handler = Callable[["Game", Turn, Command], None]
ROOM_WORDS = frozenset({"room", "around", "here", "surroundings", "area"})


def describe_room(game: Game, turn: Turn) -> None:
    """The room's heading, its description (prose), what is here and the way out."""
    room = game.room()
    turn.say(room.name, EventKind.ROOM)
    here = game.contents(room.key)
    people = [game.npc(key).name for key in game.npcs_here()]
    turn.ask(room_description(game, room))
    if here:
        turn.say(f"You see {game.item_list(here)} here.")
    for key in game.contents(room.key):
        item = game.item(key)
        inside = game.contents(key)
        if item.container and key not in game.state.closed and inside:
            turn.say(f"In the {item.name}: {game.item_list(inside)}.")
    for name in people:
        turn.say(f"{name} is here.")
    turn.say(f"Exits: {exit_list(game)}.")


def exit_list(game: Game) -> str:
    shown = []
    for direction, exit_ in game.room().exits.items():
        if is_locked(game, exit_):
            shown.append(f"{direction} (locked {exit_.door or 'way'})")
        else:
            shown.append(direction)
    return ", ".join(shown) or "none"


def move_item(game: Game, turn: Turn, key: str, place: str) -> None:
    old = game.state.locations[key]
    game.state.locations[key] = place
    if place == PLAYER:
        turn.changes.append(f"+{key}")
    elif old == PLAYER:
        turn.changes.append(f"-{key}")
    else:
        turn.changes.append(f"{key}>{place}")


def look(game: Game, turn: Turn, command: Command) -> None:
    describe_room(game, turn)


def go(game: Game, turn: Turn, command: Command) -> None:
    direction = command.noun
    if not direction:
        turn.refuse("Go where?")
        return
    exits = game.room().exits
    if direction not in DIRECTIONS:
        doors = [
            way
            for way, exit_ in exits.items()
            if exit_.door and set(noun_words(direction)) <= set(noun_words(exit_.door))
        ]
        rooms = [
            way
            for way, exit_ in exits.items()
            if set(noun_words(direction)) <= set(noun_words(game.name_of(exit_.to)))
        ]
        choices = doors or rooms
        if len(choices) != 1:
            turn.refuse(f"You can't go '{direction}'. Exits: {exit_list(game)}.")
            return
        direction = choices[0]
    exit_ = exits.get(direction)
    if exit_ is None:
        turn.refuse(f"You can't go {direction} from here. Exits: {exit_list(game)}.")
        return
    if is_locked(game, exit_):
        turn.fail(locked_way_text(game, direction))
        return
    place_room(game.state.places, game.state.room, direction, exit_.to, game.room().exits)
    game.state.room = exit_.to
    game.state.visited.add(exit_.to)
    turn.changes.append(f"room:{exit_.to}")
    describe_room(game, turn)


def locked_way_text(game: Game, direction: str) -> str:
    """Why a way is shut. A player who holds what opens it ("climb down" with the rope in
    hand) is told how, not that they would need the thing they are carrying."""
    exit_ = game.room().exits[direction]
    shut = exit_.locked_text or f"The {exit_.door or 'way ' + direction} is locked."
    way = way_key(game.state.room, direction)
    for key in game.carried_items():
        effect = game.item(key).use
        if effect is not None and way in effect.unlocks:
            name = game.item(key).name
            return effect.ready or f"{shut} You have the {name}, though: try using it here."
    return shut


def examine(game: Game, turn: Turn, command: Command) -> None:
    if not command.noun or set(noun_words(command.noun)) <= ROOM_WORDS:
        describe_room(game, turn)
        return
    scope = game.visible_items() + game.carried_items() + game.npcs_here() + door_keys(game)
    if not names_any(game, command.noun, scope):
        # Things the room's own text names ("an iron ring set into a boulder") answer with
        # the world's words for them: a classic parser's every noun, and canon here.
        seen = scenery_text(game, command.noun)
        if seen:
            turn.say(seen)
            return
        # Nouns of the room's text the world lists no scenery for ("x window" under "a
        # window of green glass") are described from that text, never refused.
        named = room_noun_description(game, game.room(), noun_words(command.noun))
        if named is not None:
            turn.ask(named)
            return
        if command.verb == "look":
            turn.refuse(f"You look, but there is nothing like '{command.noun}' here.")
            return
    key = resolve(game, turn, command.noun, scope, command=command)
    if key is None:
        return
    if direction := exit_direction(key):
        exit_ = game.room().exits[direction]
        state = "locked" if is_locked(game, exit_) else "open"
        what = exit_.door or f"way {exit_.direction}"
        turn.say(f"The {what} leads {exit_.direction}. It is {state}.")
        return
    if key in game.world.npcs:
        turn.ask(npc_description(game.npc(key)))
        return
    item = game.item(key)
    turn.ask(item_description(item, game.state.flags))
    if item.container:
        if key in game.state.closed:
            turn.say(f"The {item.name} is {'locked' if key in game.state.locked else 'closed'}.")
        else:
            inside = game.contents(key)
            turn.say(
                f"In the {item.name}: {game.item_list(inside)}."
                if inside
                else f"The {item.name} is empty."
            )
    if item.read:
        turn.say(f"There is writing on the {item.name}.")


def scenery_text(game: Game, phrase: str) -> str:
    """The room's own description of a piece of its scenery the phrase names, or "".

    "ring" names "iron ring", and so does "the iron ring on the boulder"; of several that
    fit, the one the world lists first answers."""
    words = set(noun_words(phrase))
    if not words:
        return ""
    scenery = game.room().scenery
    for fits in (
        lambda key: words <= set(noun_words(key)),
        lambda key: set(noun_words(key)) <= words,
    ):
        for key, text in scenery.items():
            if fits(key):
                return text
    return ""


def take(game: Game, turn: Turn, command: Command) -> None:
    if command.all:
        loose = [key for key in game.visible_items() if game.item(key).portable]
        if not loose:
            turn.fail("There is nothing here you can take.")
            return
        for thing in loose:
            move_item(game, turn, thing, PLAYER)
            turn.say(f"{game.item(thing).name}: taken.")
        return
    if not command.noun:
        turn.refuse("Take what?")
        return
    scope = game.visible_items() + game.npcs_here()
    held = [key for key in game.carried_items() if match(game, command.noun, [key]).found]
    if held and not names_any(game, command.noun, scope):
        what = f"the {game.name_of(held[0])}" if len(held) == 1 else "that"
        turn.fail(f"You already have {what}.")
        return
    key = resolve(game, turn, command.noun, scope, command=command)
    if key is None:
        return
    if key in game.world.npcs:
        turn.fail(f"{game.name_of(key)} would not thank you for that.")
        return
    item = game.item(key)
    if not item.portable:
        turn.fail(f"The {item.name} will not budge.")
        return
    move_item(game, turn, key, PLAYER)
    turn.say(f"You take the {item.name}.")


def drop(game: Game, turn: Turn, command: Command) -> None:
    if command.all:
        held = game.carried()
        if not held:
            turn.fail("You are not carrying anything.")
            return
        for thing in held:
            move_item(game, turn, thing, game.state.room)
            turn.say(f"{game.item(thing).name}: dropped.")
        return
    if not command.noun:
        turn.refuse("Drop what?")
        return
    key = resolve(game, turn, command.noun, game.carried_items(), command=command)
    if key is None:
        return
    move_item(game, turn, key, game.state.room)
    turn.say(f"You drop the {game.name_of(key)}.")


def put(game: Game, turn: Turn, command: Command) -> None:
    if not command.noun or not command.noun2:
        turn.refuse("Put what in what? (put THING in CONTAINER)")
        return
    carried = game.carried_items()
    # Of two things with one name, the one held is the one to put, and the one that holds
    # things is where it goes ("put oil in lantern": the hand lantern is no container).
    thing = resolve(
        game,
        turn,
        command.noun,
        carried + game.visible_items(),
        command=command,
        prefer=lambda key: key in carried,
    )
    if thing is None:
        return
    target = resolve(
        game,
        turn,
        command.noun2,
        game.visible_items() + carried,
        slot="noun2",
        command=command,
        prefer=lambda key: key != thing and game.item(key).container,
    )
    if target is None:
        return
    item, container = game.item(thing), game.item(target)
    if thing not in game.carried_items():
        turn.fail(f"You are not holding the {item.name}.")
    elif thing == target:
        turn.fail("That would take some folding.")
    elif game.inside(target, thing):
        # Into something it holds, however deep: both would vanish from the world.
        turn.fail(f"The {container.name} is inside the {item.name}; it can't go in there as well.")
    elif not container.container:
        turn.fail(f"You can't put things in the {container.name}.")
    elif target in game.state.closed:
        turn.fail(f"The {container.name} is closed.")
    else:
        move_item(game, turn, thing, target)
        turn.say(f"You put the {item.name} in the {container.name}.")


def open_(game: Game, turn: Turn, command: Command) -> None:
    _open_or_close(game, turn, command, opening=True)


def close(game: Game, turn: Turn, command: Command) -> None:
    _open_or_close(game, turn, command, opening=False)


def _open_or_close(game: Game, turn: Turn, command: Command, opening: bool) -> None:
    verb = "open" if opening else "close"
    if not command.noun:
        turn.refuse(f"{verb.capitalize()} what?")
        return
    scope = game.visible_items() + game.carried_items() + door_keys(game)
    key = resolve(game, turn, command.noun, scope, command=command)
    if key is None:
        return
    if direction := exit_direction(key):
        exit_ = game.room().exits[direction]
        what = exit_.door or f"way {exit_.direction}"
        if is_locked(game, exit_):
            turn.fail(exit_.locked_text or f"The {what} is locked.")
        else:
            turn.say(
                f"The {what} stands open." if opening else f"There is no need to close the {what}."
            )
        return
    item = game.item(key)
    if not item.container:
        turn.fail(f"You can't {verb} the {item.name}.")
    elif opening and key in game.state.locked:
        turn.fail(f"The {item.name} is locked.")
    elif opening == (key not in game.state.closed):
        turn.fail(f"The {item.name} is already {'open' if opening else 'closed'}.")
    elif opening:
        game.state.closed.discard(key)
        turn.changes.append(f"open:{key}")
        inside = game.contents(key)
        turn.say(
            f"You open the {item.name}, revealing {game.item_list(inside)}."
            if inside
            else f"You open the {item.name}. It is empty."
        )
    else:
        game.state.closed.add(key)
        turn.changes.append(f"close:{key}")
        turn.say(f"You close the {item.name}.")


def unlock(game: Game, turn: Turn, command: Command) -> None:
    if not command.noun:
        turn.refuse("Unlock what?")
        return
    scope = door_keys(game) + game.visible_items() + game.carried_items()
    target = resolve(game, turn, command.noun, scope, command=command)
    if target is None:
        return
    direction = exit_direction(target)
    if direction:
        exit_ = game.room().exits[direction]
        needed, what = exit_.key, exit_.door or f"way {exit_.direction}"
        if not is_locked(game, exit_):
            turn.fail(f"The {what} is not locked.")
            return
        if not needed:
            turn.fail(exit_.locked_text or f"No key opens the {what}.")
            return
    else:
        item = game.item(target)
        needed, what = item.lock, item.name
        if target not in game.state.locked:
            turn.fail(f"The {what} is not locked.")
            return
    if command.noun2:
        key = resolve(
            game, turn, command.noun2, game.carried_items(), slot="noun2", command=command
        )
        if key is None:
            return
        if key != needed:
            turn.fail(f"The {game.name_of(key)} does not fit the {what}.")
            return
    elif needed in game.carried_items():
        key = needed
        turn.say(f"(with the {game.name_of(key)})")
    else:
        turn.fail(f"You have nothing that unlocks the {what}.")
        return
    if direction:
        game.state.unlocked.add(way_key(game.state.room, direction))
        turn.changes.append(f"unlock:{way_key(game.state.room, direction)}")
    else:
        game.state.locked.discard(target)
        turn.changes.append(f"unlock:{target}")
    turn.say(f"You unlock the {what} with the {game.name_of(key)}.")
    # The engine's own line, canon like a world's text: a state change is no place for the
    # narrator to guess (it wrote "...locks it behind you" on the turn a door unlocked).
    turn.ask(
        prose_request(
            ContentKind.ACTION,
            what,
            "",
            entities=(game.name_of(key),),
            authored=f"The {what} gives with a heavy click.",
        )
    )


def read(game: Game, turn: Turn, command: Command) -> None:
    if not command.noun:
        turn.refuse("Read what?")
        return
    key = resolve(
        game, turn, command.noun, game.carried_items() + game.visible_items(), command=command
    )
    if key is None:
        return
    item = game.item(key)
    turn.say(item.read if item.read else f"There is nothing written on the {item.name}.")


def use(game: Game, turn: Turn, command: Command) -> None:
    if not command.noun:
        turn.refuse("Use what?")
        return
    scope = game.carried_items() + game.visible_items()
    key = resolve(game, turn, command.noun, scope, command=command)
    if key is None:
        return
    item = game.item(key)
    effect = item.use
    target = ""
    scenery = ""
    if command.noun2:
        reach = scope + game.npcs_here() + door_keys(game)
        if not names_any(game, command.noun2, reach) and scenery_text(game, command.noun2):
            # "tie rope to ring": the ring is the room's scenery, not an item, so the use
            # is the rope's own; its room rule says whether it takes here.
            scenery = command.noun2
        else:
            found = resolve(game, turn, command.noun2, reach, slot="noun2", command=command)
            if found is None:
                return
            target = found
    if effect is None:
        # Keys are used on locks; anything else has no use of its own.
        if _is_key(game, key):
            unlock_target = target or _lock_for(game, key)
            if unlock_target:
                noun = game.names_of(unlock_target)[-1]
                unlock(
                    game,
                    turn,
                    Command("unlock", command.text, noun=noun, noun2=item.name, prep="with"),
                )
                return
        turn.fail(f"You can't think how to use the {item.name} here.")
        return
    if effect.on and scenery:
        turn.fail(f"Using the {item.name} on the {scenery} does nothing.")
        return
    if effect.on and not target and (effect.on in scope or effect.on in game.npcs_here()):
        target = effect.on
    if effect.on and target != effect.on:
        where = f" on the {game.name_of(target)}" if target else ""
        turn.fail(f"Using the {item.name}{where} does nothing.")
        return
    if effect.room and game.state.room != effect.room:
        turn.fail(effect.fail or f"There is nothing to use the {item.name} on here.")
        return
    missing = [need for need in effect.needs if game.state.locations[need] != effect.on]
    if missing:
        turn.fail(
            effect.fail
            or f"Nothing happens. Something is missing from the {game.name_of(effect.on)}."
        )
        return
    if effect.flag and effect.flag in game.state.flags:
        turn.fail("You have already done that.")
        return
    for reveal in effect.reveals:
        move_item(game, turn, reveal, game.state.room)
    for gone in effect.removes:
        move_item(game, turn, gone, NOWHERE)
    for way in effect.unlocks:
        game.state.unlocked.add(way)
        turn.changes.append(f"unlock:{way}")
    if effect.flag:
        game.state.flags.add(effect.flag)
        turn.changes.append(f"flag:{effect.flag}")
    entities = (game.name_of(target),) if target else ()
    turn.ask(
        prose_request(ContentKind.ACTION, item.name, "", entities=entities, authored=effect.text)
    )


def world_verb(game: Game, turn: Turn, command: Command) -> None:
    """A verb a world declares on an item's use: "light lantern" uses the tinderbox on it.

    The noun may name the tool ("strike tinderbox") or what it is used on ("light
    lantern"); "light lantern with tinderbox" names both.
    """
    verb = command.verb
    scope = game.carried_items() + game.visible_items()
    tools = [key for key in scope if verb in _use_verbs(game.item(key))]
    if not command.noun:
        turn.refuse(f"{verb.capitalize()} what?")
        return
    if command.noun2:
        tool = resolve(game, turn, command.noun2, scope, slot="noun2", command=command)
        if tool is None:
            return
        if tool not in tools:
            turn.refuse(f"You can't {verb} anything with the {game.name_of(tool)}.")
            return
        tools = [tool]
    if not tools:
        turn.refuse(f"You have nothing to {verb} anything with.")
        return
    targets: dict[str, str] = {}
    for key in tools:
        its_use = game.item(key).use  # a tool has a use (it is one for its use verbs)
        if its_use is not None and its_use.on:
            targets.setdefault(its_use.on, key)
    own = {key: key for key in tools}
    reachable = [key for key in targets if key in scope + game.npcs_here()]
    if names_any(game, command.noun, reachable):
        target = resolve(game, turn, command.noun, reachable, command=command)
        if target is None:
            return
        tool, noun2 = targets[target], game.name_of(target)
    elif names_any(game, command.noun, list(own)):
        tool = resolve(game, turn, command.noun, list(own), command=command)
        if tool is None:
            return
        noun2 = ""
    else:
        turn.refuse(f"You can't {verb} that here.")
        return
    use(
        game,
        turn,
        Command(
            "use", command.text, noun=game.name_of(tool), noun2=noun2, prep="on" if noun2 else ""
        ),
    )


def _use_verbs(item: Item) -> tuple[str, ...]:
    return item.use.verbs if item.use else ()


def buy(game: Game, turn: Turn, command: Command) -> None:
    """ "buy oil": give the seller what they want for it, if the player has it."""
    if not command.noun:
        turn.refuse("Buy what?")
        return
    sellers = [
        key
        for key in game.npcs_here()
        if game.npc(key).gives
        and game.npc(key).wants
        and game.state.locations[game.npc(key).gives] == key
    ]
    if command.noun2 and command.prep == "from":
        seller = resolve(game, turn, command.noun2, game.npcs_here(), slot="noun2", command=command)
        if seller is None:
            return
        sellers = [key for key in sellers if key == seller]
    goods = {game.npc(key).gives: key for key in sellers}
    if not names_any(game, command.noun, list(goods)):
        turn.refuse(
            f"Nobody here sells {command.noun}."
            if game.npcs_here()
            else "There is no one here to buy from."
        )
        return
    thing = resolve(game, turn, command.noun, list(goods), command=command)
    if thing is None:
        return
    npc = game.npc(goods[thing])
    price = game.item(npc.wants)
    if command.noun2 and command.prep == "with":
        offered = resolve(
            game, turn, command.noun2, game.carried_items(), slot="noun2", command=command
        )
        if offered is None:
            return
        if offered != npc.wants:
            turn.refuse(f"{npc.name} wants {price.indefinite} for the {game.name_of(thing)}.")
            return
    if npc.wants not in game.carried():
        turn.refuse(
            f"{npc.name} wants {price.indefinite} for the {game.name_of(thing)}, and you have none."
        )
        return
    give(game, turn, Command("give", command.text, noun=price.name, noun2=npc.name, prep="to"))


def _is_key(game: Game, key: str) -> bool:
    locks = {exit_.key for room in game.world.rooms.values() for exit_ in room.exits.values()}
    locks |= {item.lock for item in game.world.items.values()}
    return key in locks


def _lock_for(game: Game, key: str) -> str:
    for direction, exit_ in game.room().exits.items():
        if exit_.key == key and is_locked(game, exit_):
            return exit_key(direction)
    for item_key in game.visible_items() + game.carried_items():
        if game.item(item_key).lock == key and item_key in game.state.locked:
            return item_key
    return ""


def inventory(game: Game, turn: Turn, command: Command) -> None:
    held = game.carried()
    turn.say(
        f"You are carrying {game.item_list(held)}." if held else "You are empty-handed.",
        EventKind.SYSTEM,
    )


def talk(game: Game, turn: Turn, command: Command) -> None:
    if not command.noun:
        people = game.npcs_here()
        if len(people) != 1:
            turn.refuse("Talk to whom?" if people else "There is no one here to talk to.")
            return
        key = people[0]
    else:
        found = resolve(
            game,
            turn,
            command.noun,
            game.npcs_here() + game.visible_items() + game.carried_items(),
            command=command,
        )
        if found is None:
            return
        key = found
    if key not in game.world.npcs:
        turn.fail(f"The {game.name_of(key)} has nothing to say.")
        return
    npc = game.npc(key)
    turn.ask(
        prose_request(
            ContentKind.DIALOGUE,
            npc.name,
            f'"Well met," says {npc.name}.',
            cache_key=None if npc.greeting else f"npc:{key}:greeting",
            authored=npc.greeting,
            speaker=npc.name,
            persona=npc.persona,
            topic="greeting",
        )
    )
    for quest_key, quest in game.world.quests.items():
        state = game.state.quests[quest_key]
        if (
            quest.goal.kind == GoalKind.TALK
            and quest.goal.target == key
            and state == QuestState.ACTIVE
        ):
            complete_quest(game, turn, quest_key)
    offered = [
        k
        for k, q in game.world.quests.items()
        if q.giver == key and game.state.quests[k] == QuestState.NOT_STARTED
    ]
    if offered:
        start_quest(game, turn, offered[0])
    if npc.topics:
        turn.say(
            f"(You could ask {npc.name} about {name_list(sorted(npc.topics), False)}.)",
            EventKind.SYSTEM,
        )


def ask(game: Game, turn: Turn, command: Command) -> None:
    if not command.noun or not command.noun2:
        turn.refuse("Ask whom about what? (ask PERSON about TOPIC)")
        return
    key = resolve(game, turn, command.noun, game.npcs_here(), command=command)
    if key is None:
        return
    npc = game.npc(key)
    words = set(noun_words(command.noun2))
    topic = next(
        (
            t
            for t in sorted(npc.topics)
            if set(noun_words(t)) <= words or words <= set(noun_words(t))
        ),
        "",
    )
    subject = command.noun2
    if topic:
        # Asked again, the authored answer stands; the colour after it is new each time.
        turn.ask(
            prose_request(
                ContentKind.DIALOGUE,
                subject,
                "",
                authored=npc.topics[topic],
                entities=(npc.name,),
                speaker=npc.name,
                persona=npc.persona,
                topic=topic,
            )
        )
    else:
        fallback = npc.unknown or f"{npc.name} has nothing to say about {subject}."
        turn.ask(
            prose_request(
                ContentKind.DIALOGUE,
                subject,
                fallback,
                entities=(npc.name,),
                speaker=npc.name,
                persona=npc.persona,
                topic=subject,
            )
        )


def give(game: Game, turn: Turn, command: Command) -> None:
    if not command.noun or not command.noun2:
        turn.refuse("Give what to whom? (give THING to PERSON)")
        return
    thing = resolve(game, turn, command.noun, game.carried_items(), command=command)
    if thing is None:
        return
    person = resolve(game, turn, command.noun2, game.npcs_here(), slot="noun2", command=command)
    if person is None:
        return
    npc, item = game.npc(person), game.item(thing)
    quests = [
        k
        for k, q in game.world.quests.items()
        if q.goal.kind == GoalKind.BRING
        and q.goal.target == thing
        and q.goal.to == person
        and game.state.quests[k] != QuestState.DONE
    ]
    if not quests and npc.wants != thing:
        turn.fail(npc.refuse or f"{npc.name} does not want the {item.name}.")
        return
    move_item(game, turn, thing, person)
    turn.say(f"You give the {item.name} to {npc.name}.")
    if npc.wants == thing:
        if npc.gives and game.state.locations[npc.gives] == person:
            move_item(game, turn, npc.gives, PLAYER)
            turn.say(f"{npc.name} gives you the {game.name_of(npc.gives)}.")
        turn.ask(
            prose_request(
                ContentKind.DIALOGUE,
                item.name,
                f'"My thanks," says {npc.name}.',
                authored=npc.thanks,
                entities=(npc.name,),
                speaker=npc.name,
                persona=npc.persona,
                topic="thanks",
            )
        )
    for quest_key in quests:
        complete_quest(game, turn, quest_key)


def quests(game: Game, turn: Turn, command: Command) -> None:
    lines = []
    for key, quest in game.world.quests.items():
        state = game.state.quests[key]
        if state == QuestState.ACTIVE:
            lines.append(f"[active] {quest.title}: {goal_text(game, key)}")
        elif state == QuestState.DONE:
            lines.append(f"[done] {quest.title}")
    if not lines:
        lines.append("You have no quests yet. Talk to people.")
    # The seed tells this story again: "textgamegen play --seed N".
    lines.append(f"Story seed: {game.seed}.")
    turn.say("\n".join(lines), EventKind.SYSTEM)


def wait(game: Game, turn: Turn, command: Command) -> None:
    turn.say("Time passes.")


def save(game: Game, turn: Turn, command: Command) -> None:
    try:
        name = save_name(command.rest or "quicksave")
        path = game.saving.save(game, name)
    except (SaveError, StateError, OSError) as error:
        turn.say(f"Not saved: {error}", EventKind.ERROR)
        return
    turn.say(saved_text(path), EventKind.SYSTEM)


def load(game: Game, turn: Turn, command: Command) -> None:
    name = command.rest or "quicksave"
    try:
        left = game.load_from(name)
    except (SaveError, StateError, OSError) as error:
        turn.say(f"Not loaded: {error}", EventKind.ERROR)
        return
    turn.changes.append("load")
    turn.say(f"Loaded '{name}': turn {game.state.turn}.", EventKind.SYSTEM)
    if left:
        turn.say(f"The game you left is kept: 'load {left}' goes back to it.", EventKind.SYSTEM)
    describe_room(game, turn)


def undo(game: Game, turn: Turn, command: Command) -> None:
    game.undo(turn)


def retry(game: Game, turn: Turn, command: Command) -> None:
    """Re-emit the last prose requests with new seeds; the new text may replace the cache."""
    fresh = game.retry_requests()
    if not fresh:
        turn.say("There is nothing to retry yet.", EventKind.SYSTEM)
        return
    turn.say("Rewriting the last passage...", EventKind.SYSTEM)
    turn.changes.append("retry")
    turn.retried = fresh


NOTE_OFF = frozenset({"off", "none", "clear", "drop"})


def note(game: Game, turn: Turn, command: Command) -> None:
    """The player's word to the narrator on how to tell it, given with every line from
    now on (beside the world's own tone); it changes nothing in the game."""
    text = command.rest.strip()
    if not text:
        shown = f"Your note to the narrator: {game.note}" if game.note else "You have no note."
        tone = f" The world's tone: {game.world.tone}" if game.world.tone else ""
        turn.say(f"{shown}{tone} (note TEXT sets it, note off drops it.)", EventKind.SYSTEM)
        return
    if text.casefold() in NOTE_OFF:
        game.set_note("")
        turn.changes.append("note")
        turn.say("Note dropped: the narrator tells it as the world's own.", EventKind.SYSTEM)
        return
    kept = game.set_note(text)
    turn.changes.append("note")
    turn.say(f"Noted for the narrator: {kept}", EventKind.SYSTEM)


RATINGS = {"good": "good", "+": "good", "bad": "bad", "-": "bad"}


def rate(game: Game, turn: Turn, command: Command) -> None:
    """The player's opinion of the last passage. The engine only notes it in ``changes``
    ("rate:good"); whoever records feedback takes it from there."""
    rating = RATINGS.get(command.rest.strip().casefold())
    if rating is None:
        turn.say("Rate the last passage with 'rate good' or 'rate bad'.", EventKind.SYSTEM)
        return
    if not game.state.story:
        turn.say("There is nothing to rate yet.", EventKind.SYSTEM)
        return
    turn.changes.append(f"rate:{rating}")
    turn.say(f"Noted: the last passage was {rating}.", EventKind.SYSTEM)


def help_(game: Game, turn: Turn, command: Command) -> None:
    lines = ["Commands:"] + [f"  {verb.help}" for verb in game.parser.verbs if verb.help]
    extra = [word for verb in game.parser.verbs if verb.action == WORLD_VERB for word in verb.words]
    if extra:
        lines.append(f"  Here you can also: {', '.join(extra)}.")
    lines.append(
        "Anything else that starts with a real verb (kneel, knock on the wall) is tried as a"
        " free-form action; a word the game does not know costs no turn."
    )
    turn.say("\n".join(lines), EventKind.SYSTEM)


def hint(game: Game, turn: Turn, command: Command) -> None:
    turn.say(next_hint(game, game.hint_levels), EventKind.SYSTEM)


def map_(game: Game, turn: Turn, command: Command) -> None:
    lines = draw_map(game.world, game.state.places, game.state.room)
    turn.say("\n".join([*lines, "", legend(lines)]), EventKind.MAP)


def quit_(game: Game, turn: Turn, command: Command) -> None:
    problem = game.saving.on_quit(game)
    if problem:
        turn.say(f"Autosave failed: {problem}", EventKind.ERROR)
    turn.quit = True
    turn.say("Goodbye.", EventKind.SYSTEM)


def empty(game: Game, turn: Turn, command: Command) -> None:
    turn.say("Say something. Type 'help' for the commands.", EventKind.SYSTEM)


def authored_attempt(game: Game, text: str) -> str:
    """The room's own line for a free-form command ("kick the door"), or "".

    Filler words do not count ("kick door" finds "kick the door", "knock at the wall"
    finds "knock on the wall"; see ``attempt_words``); a line that needs an item holds
    only while that item is here or carried."""
    wanted = attempt_words(text)
    for phrase, attempt in game.room().attempts.items():
        if attempt_words(phrase) != wanted:
            continue
        if attempt.needs and attempt.needs not in game.visible_items() + game.carried_items():
            continue
        return attempt.text
    return ""


def known_verbs(game: Game) -> frozenset[str]:
    """Words a free-form action may start with: the parser's verbs, those this world's
    rooms answer in their attempts, and everyday English verbs (``vocabulary.py``)."""
    words = {phrase.split()[0] for verb in game.parser.verbs for phrase in verb.words}
    words |= {phrase.split()[0] for room in game.world.rooms.values() for phrase in room.attempts}
    return frozenset(words) | COMMON_VERBS


def scope_words(game: Game) -> list[str]:
    """The single words of the names in reach, for the nearest-word search."""
    keys = game.visible_items() + game.carried_items() + game.npcs_here()
    names = [name for key in keys for name in game.names_of(key)]
    names += [exit_.door for exit_ in game.room().exits.values() if exit_.door]
    return list(dict.fromkeys(word for name in names for word in noun_words(name)))


def unknown_word(game: Game, text: str, word: str) -> str:
    """What the game says to a line whose first word is no verb it knows: the command as
    it was probably meant when that word is a slip of a verb, a direction or a thing in
    reach ("tkae crate" -> "take crate"), else that it does not know the word."""
    things = scope_words(game)
    if word in things:
        return f"What do you want to do with the {word}? Type 'help' for the verbs."
    verbs = [w for verb in game.parser.verbs for w in verb.words if " " not in w]
    meant = nearest(word, [*verbs, *DIRECTION_WORDS, *things])
    if meant:
        words = text.split()
        at = next((i for i, typed in enumerate(words) if word in typed), 0)
        words[at] = meant
        return f"I don't know the word '{word}'. Did you mean '{' '.join(words)}'?"
    return f"I don't know the word '{word}'. Type 'help' for the verbs."


# Words a player may put in or leave out without changing what they do: "knock on the
# wall", "knock at the wall" and "knock wall" are one attempt.
_FILLER = frozenset("the a an some your my on at onto upon against to".split())


def attempt_words(text: str) -> tuple[str, ...]:
    """A free-form command's words as the room's attempts are looked up: lower case,
    punctuation and filler words ("the", "your", "on", "at") dropped, and a plural
    ending too ("touch the rock walls" finds "touch the rock wall"). The verb is kept
    as typed, so "look up" and "look down" stay apart."""
    words = re.findall(r"[a-z0-9'’-]+", text.casefold())
    kept = [word for index, word in enumerate(words) if index == 0 or word not in _FILLER]
    return tuple(
        word[:-1]
        if index and len(word) > 3 and word.endswith("s") and not word.endswith("ss")
        else word
        for index, word in enumerate(kept)
    )


def freeform(game: Game, turn: Turn, command: Command) -> None:
    """An unknown verb: nothing changes. The room's own line for it is canon; otherwise the
    generator narrates the attempt."""
    text = command.text
    authored = authored_attempt(game, text)
    if authored:
        turn.say(authored)
        return
    word, known = verb_of(text), known_verbs(game)
    if not is_known(word, known) and not is_known(text.split()[0], known):
        # A typo or a made-up word is not an attempt: no turn passes and the narrator is
        # not asked ("xyzzy" was narrated as a try, and cost a turn).
        turn.refuse(unknown_word(game, text, word))
        return
    # What is really here, not the command's words ("wave at the fleet" names no thing
    # of this room): the people, then the things in view.
    here = tuple(game.npc(key).name for key in game.npcs_here())
    here += tuple(game.item(key).name for key in game.visible_items())
    turn.ask(
        prose_request(
            ContentKind.ACTION,
            "",
            f"You try to {text}, but the attempt comes to nothing.",
            entities=here[:6],
            attempt=True,
            room_text=game.room().text_now(game.state.flags)[0],
        )
    )


ACTIONS: dict[str, Handler] = {
    "look": look,
    "go": go,
    "examine": examine,
    "take": take,
    "drop": drop,
    "put": put,
    "open": open_,
    "close": close,
    "unlock": unlock,
    "read": read,
    "use": use,
    "inventory": inventory,
    "talk": talk,
    "ask": ask,
    "give": give,
    "quests": quests,
    "wait": wait,
    "save": save,
    "load": load,
    "undo": undo,
    "retry": retry,
    "rate": rate,
    "note": note,
    "help": help_,
    "quit": quit_,
    "empty": empty,
    "freeform": freeform,
    "hint": hint,
    "map": map_,
    "buy": buy,
    WORLD_VERB: world_verb,
}
