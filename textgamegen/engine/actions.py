"""What each verb does. ``ACTIONS`` maps a parser action to a handler.

A handler is ``handler(game, turn, command)``: it reads and changes ``game.state``, says
what happened through ``turn`` and queues prose with ``game.ask``. ``turn.refuse`` means
the command was not understood (no turn passes); ``turn.fail`` means it was tried and
did not work (the turn passes, as in most parser games).
"""

from __future__ import annotations

from collections.abc import Callable

from textgamegen.engine.content import ContentKind
from textgamegen.engine.game import Game, Turn, name_list, with_article
from textgamegen.engine.parser import VERBS, Command, noun_words
from textgamegen.engine.world import DIRECTIONS, NOWHERE, PLAYER, Exit, Item, Npc, Room

Handler = Callable[[Game, Turn, Command], None]
ROOM_WORDS = frozenset({"room", "around", "here", "surroundings", "area"})


def room_fallback(room: Room) -> str:
    return room.text or f"You are in {room.name}."


def item_fallback(item: Item) -> str:
    return item.text or f"It is {with_article(item.name)}, much like any other."


def npc_fallback(npc: Npc) -> str:
    return npc.text or npc.persona or f"You see {npc.name}."


def room_entities(game: Game, room_key: str) -> tuple[str, ...]:
    """Who and what a room's description should mention: its people, then its items."""
    people = [npc.name for npc in game.world.npcs.values() if npc.location == room_key]
    here = [game.item(key).name for key in game.contents(room_key)]
    return tuple(people + here)


def describe_room(game: Game, turn: Turn) -> None:
    """The room's heading, its description (prose), what is here and the way out."""
    room = game.room()
    turn.say(room.name, "room")
    here = [game.item(key).name for key in game.contents(room.key)]
    people = [game.npc(key).name for key in game.npcs_here()]
    game.ask(
        turn,
        ContentKind.ITEM,
        room.name,
        room_fallback(room),
        cache_key=f"room:{room.key}",
        entities=room_entities(game, room.key),
    )
    if here:
        turn.say(f"You see {name_list(here)} here.")
    for key in game.contents(room.key):
        item = game.item(key)
        inside = game.contents(key)
        if item.container and key not in game.state.closed and inside:
            names = name_list([game.item(k).name for k in inside])
            turn.say(f"In the {item.name}: {names}.")
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


def is_locked(game: Game, exit_: Exit) -> bool:
    return exit_.locked and f"{game.state.room}.{exit_.direction}" not in game.state.unlocked


def door_keys(game: Game) -> list[str]:
    return [f"exit:{direction}" for direction in game.room().exits]


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
        turn.fail(f"You can't go {direction} from here. Exits: {exit_list(game)}.")
        return
    if is_locked(game, exit_):
        turn.fail(exit_.locked_text or f"The {exit_.door or 'way ' + direction} is locked.")
        return
    game.state.room = exit_.to
    game.state.visited.add(exit_.to)
    turn.changes.append(f"room:{exit_.to}")
    describe_room(game, turn)


def examine(game: Game, turn: Turn, command: Command) -> None:
    if not command.noun or set(noun_words(command.noun)) <= ROOM_WORDS:
        describe_room(game, turn)
        return
    scope = game.visible_items() + game.carried_items() + game.npcs_here() + door_keys(game)
    key = game.resolve(turn, command.noun, scope, command=command)
    if key is None:
        return
    if key.startswith("exit:"):
        exit_ = game.room().exits[key[5:]]
        state = "locked" if is_locked(game, exit_) else "open"
        what = exit_.door or f"way {exit_.direction}"
        turn.say(f"The {what} leads {exit_.direction}. It is {state}.")
        return
    if key in game.world.npcs:
        npc = game.npc(key)
        game.ask(
            turn,
            ContentKind.ITEM,
            npc.name,
            npc_fallback(npc),
            cache_key=f"npc:{key}",
            persona=npc.persona,
        )
        return
    item = game.item(key)
    game.ask(turn, ContentKind.ITEM, item.name, item_fallback(item), cache_key=f"item:{key}")
    if item.container:
        if key in game.state.closed:
            turn.say(f"The {item.name} is {'locked' if key in game.state.locked else 'closed'}.")
        else:
            inside = [game.item(k).name for k in game.contents(key)]
            turn.say(
                f"In the {item.name}: {name_list(inside)}."
                if inside
                else f"The {item.name} is empty."
            )
    if item.read:
        turn.say(f"There is writing on the {item.name}.")


def take(game: Game, turn: Turn, command: Command) -> None:
    if command.all:
        loose = [key for key in game.visible_items() if game.item(key).portable]
        if not loose:
            turn.fail("There is nothing here you can take.")
            return
        for key in loose:
            move_item(game, turn, key, PLAYER)
            turn.say(f"{game.item(key).name}: taken.")
        return
    if not command.noun:
        turn.refuse("Take what?")
        return
    scope = game.visible_items() + game.npcs_here()
    held = [
        key for key in game.carried_items() if game.resolve(Turn(), command.noun, [key]) is not None
    ]
    if held and not _names_any(game, command.noun, scope):
        what = f"the {game.name_of(held[0])}" if len(held) == 1 else "that"
        turn.fail(f"You already have {what}.")
        return
    key = game.resolve(turn, command.noun, scope, command=command)
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


def _names_any(game: Game, phrase: str, keys: list[str]) -> bool:
    return any(game.resolve(Turn(), phrase, [key]) is not None for key in keys)


def drop(game: Game, turn: Turn, command: Command) -> None:
    if command.all:
        held = game.carried()
        if not held:
            turn.fail("You are not carrying anything.")
            return
        for key in held:
            move_item(game, turn, key, game.state.room)
            turn.say(f"{game.item(key).name}: dropped.")
        return
    if not command.noun:
        turn.refuse("Drop what?")
        return
    key = game.resolve(turn, command.noun, game.carried_items(), command=command)
    if key is None:
        return
    move_item(game, turn, key, game.state.room)
    turn.say(f"You drop the {game.name_of(key)}.")


def put(game: Game, turn: Turn, command: Command) -> None:
    if not command.noun or not command.noun2:
        turn.refuse("Put what in what? (put THING in CONTAINER)")
        return
    thing = game.resolve(
        turn, command.noun, game.carried_items() + game.visible_items(), command=command
    )
    if thing is None:
        return
    target = game.resolve(
        turn,
        command.noun2,
        game.visible_items() + game.carried_items(),
        slot="noun2",
        command=command,
    )
    if target is None:
        return
    item, container = game.item(thing), game.item(target)
    if thing not in game.carried_items():
        turn.fail(f"You are not holding the {item.name}.")
    elif thing == target:
        turn.fail("That would take some folding.")
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
    key = game.resolve(turn, command.noun, scope, command=command)
    if key is None:
        return
    if key.startswith("exit:"):
        exit_ = game.room().exits[key[5:]]
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
        inside = [game.item(k).name for k in game.contents(key)]
        turn.say(
            f"You open the {item.name}, revealing {name_list(inside)}."
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
    target = game.resolve(turn, command.noun, scope, command=command)
    if target is None:
        return
    if target.startswith("exit:"):
        exit_ = game.room().exits[target[5:]]
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
        key = game.resolve(turn, command.noun2, game.carried_items(), slot="noun2", command=command)
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
    if target.startswith("exit:"):
        game.state.unlocked.add(f"{game.state.room}.{target[5:]}")
        turn.changes.append(f"unlock:{game.state.room}.{target[5:]}")
    else:
        game.state.locked.discard(target)
        turn.changes.append(f"unlock:{target}")
    turn.say(f"You unlock the {what} with the {game.name_of(key)}.")
    game.ask(
        turn,
        ContentKind.ACTION,
        what,
        f"The {what} gives with a heavy click.",
        entities=(game.name_of(key),),
    )


def read(game: Game, turn: Turn, command: Command) -> None:
    if not command.noun:
        turn.refuse("Read what?")
        return
    key = game.resolve(
        turn, command.noun, game.carried_items() + game.visible_items(), command=command
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
    key = game.resolve(turn, command.noun, scope, command=command)
    if key is None:
        return
    item = game.item(key)
    effect = item.use
    target = ""
    if command.noun2:
        found = game.resolve(
            turn,
            command.noun2,
            scope + game.npcs_here() + door_keys(game),
            slot="noun2",
            command=command,
        )
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
    turn.say(effect.text)
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
    game.ask(turn, ContentKind.ACTION, item.name, effect.text, entities=entities)


def _is_key(game: Game, key: str) -> bool:
    locks = {exit_.key for room in game.world.rooms.values() for exit_ in room.exits.values()}
    locks |= {item.lock for item in game.world.items.values()}
    return key in locks


def _lock_for(game: Game, key: str) -> str:
    for direction, exit_ in game.room().exits.items():
        if exit_.key == key and is_locked(game, exit_):
            return f"exit:{direction}"
    for item_key in game.visible_items() + game.carried_items():
        if game.item(item_key).lock == key and item_key in game.state.locked:
            return item_key
    return ""


def inventory(game: Game, turn: Turn, command: Command) -> None:
    names = game.inventory()
    turn.say(
        f"You are carrying {name_list(names)}." if names else "You are empty-handed.", "system"
    )


def talk(game: Game, turn: Turn, command: Command) -> None:
    if not command.noun:
        people = game.npcs_here()
        if len(people) != 1:
            turn.refuse("Talk to whom?" if people else "There is no one here to talk to.")
            return
        key = people[0]
    else:
        found = game.resolve(
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
    game.ask(
        turn,
        ContentKind.DIALOGUE,
        npc.name,
        npc.greeting or f'"Well met," says {npc.name}.',
        cache_key=f"npc:{key}:greeting",
        speaker=npc.name,
        persona=npc.persona,
        topic="greeting",
    )
    for quest_key, quest in game.world.quests.items():
        state = game.state.quests[quest_key]
        if quest.goal.kind == "talk" and quest.goal.target == key and state == "active":
            game.complete_quest(turn, quest_key)
    offered = [
        k
        for k, q in game.world.quests.items()
        if q.giver == key and game.state.quests[k] == "not started"
    ]
    if offered:
        game.start_quest(turn, offered[0])
    if npc.topics:
        turn.say(
            f"(You could ask {npc.name} about {name_list(sorted(npc.topics), False)}.)", "system"
        )


def ask(game: Game, turn: Turn, command: Command) -> None:
    if not command.noun or not command.noun2:
        turn.refuse("Ask whom about what? (ask PERSON about TOPIC)")
        return
    key = game.resolve(turn, command.noun, game.npcs_here(), command=command)
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
        game.ask(
            turn,
            ContentKind.DIALOGUE,
            subject,
            npc.topics[topic],
            cache_key=f"npc:{key}:{topic}",
            entities=(npc.name,),
            speaker=npc.name,
            persona=npc.persona,
            topic=topic,
        )
    else:
        fallback = npc.unknown or f"{npc.name} has nothing to say about {subject}."
        game.ask(
            turn,
            ContentKind.DIALOGUE,
            subject,
            fallback,
            entities=(npc.name,),
            speaker=npc.name,
            persona=npc.persona,
            topic=subject,
        )


def give(game: Game, turn: Turn, command: Command) -> None:
    if not command.noun or not command.noun2:
        turn.refuse("Give what to whom? (give THING to PERSON)")
        return
    thing = game.resolve(turn, command.noun, game.carried_items(), command=command)
    if thing is None:
        return
    person = game.resolve(turn, command.noun2, game.npcs_here(), slot="noun2", command=command)
    if person is None:
        return
    npc, item = game.npc(person), game.item(thing)
    quests = [
        k
        for k, q in game.world.quests.items()
        if q.goal.kind == "bring"
        and q.goal.target == thing
        and q.goal.to == person
        and game.state.quests[k] != "done"
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
        game.ask(
            turn,
            ContentKind.DIALOGUE,
            item.name,
            npc.thanks or f'"My thanks," says {npc.name}.',
            cache_key=f"npc:{person}:thanks",
            entities=(npc.name,),
            speaker=npc.name,
            persona=npc.persona,
            topic="thanks",
        )
    for quest_key in quests:
        game.complete_quest(turn, quest_key)


def quests(game: Game, turn: Turn, command: Command) -> None:
    lines = []
    for key, quest in game.world.quests.items():
        state = game.state.quests[key]
        if state == "active":
            lines.append(f"[active] {quest.title}: {game.goal_text(key)}")
        elif state == "done":
            lines.append(f"[done] {quest.title}")
    turn.say("\n".join(lines) if lines else "You have no quests yet. Talk to people.", "system")


def wait(game: Game, turn: Turn, command: Command) -> None:
    turn.say("Time passes.")


def save(game: Game, turn: Turn, command: Command) -> None:
    from textgamegen.engine.saves import SaveError, save_name
    from textgamegen.engine.state import StateError

    try:
        name = save_name(command.rest or "quicksave")
        path = game.save_to(name)
    except (SaveError, StateError, OSError) as error:
        turn.say(f"Not saved: {error}", "error")
        return
    turn.say(f"Saved as '{name}' ({path.name}).", "system")


def load(game: Game, turn: Turn, command: Command) -> None:
    from textgamegen.engine.saves import SaveError
    from textgamegen.engine.state import StateError

    name = command.rest or "quicksave"
    try:
        game.load_from(name)
    except (SaveError, StateError, OSError) as error:
        turn.say(f"Not loaded: {error}", "error")
        return
    turn.changes.append("load")
    turn.say(f"Loaded '{name}': turn {game.state.turn}.", "system")
    describe_room(game, turn)


def undo(game: Game, turn: Turn, command: Command) -> None:
    game.undo(turn)


def retry(game: Game, turn: Turn, command: Command) -> None:
    """Re-emit the last prose requests with new seeds; the new text may replace the cache."""
    fresh = game.retry_requests()
    if not fresh:
        turn.say("There is nothing to retry yet.", "system")
        return
    turn.say("Rewriting the last passage...", "system")
    turn.changes.append("retry")
    turn.retried = fresh


RATINGS = {"good": "good", "+": "good", "bad": "bad", "-": "bad"}


def rate(game: Game, turn: Turn, command: Command) -> None:
    """The player's opinion of the last passage. The engine only notes it in ``changes``
    ("rate:good"); whoever records feedback takes it from there."""
    rating = RATINGS.get(command.rest.strip().casefold())
    if rating is None:
        turn.say("Rate the last passage with 'rate good' or 'rate bad'.", "system")
        return
    if not game.state.story:
        turn.say("There is nothing to rate yet.", "system")
        return
    turn.changes.append(f"rate:{rating}")
    turn.say(f"Noted: the last passage was {rating}.", "system")


def help_(game: Game, turn: Turn, command: Command) -> None:
    lines = ["Commands:"] + [f"  {verb.help}" for verb in VERBS if verb.help]
    lines.append("Anything else you type is tried as a free-form action.")
    turn.say("\n".join(lines), "system")


def quit_(game: Game, turn: Turn, command: Command) -> None:
    game.autosave_now(turn)
    turn.quit = True
    turn.say("Goodbye.", "system")


def empty(game: Game, turn: Turn, command: Command) -> None:
    turn.say("Say something. Type 'help' for the commands.", "system")


def freeform(game: Game, turn: Turn, command: Command) -> None:
    """An unknown verb: nothing changes, the generator narrates the attempt."""
    text = command.text
    people = tuple(game.npc(key).name for key in game.npcs_here())
    game.ask(
        turn,
        ContentKind.ACTION,
        command.noun or text,
        f"You try to {text}, but nothing much comes of it.",
        entities=people,
    )


ACTIONS: dict[str, Handler] = {
    "look": look, "go": go, "examine": examine, "take": take, "drop": drop, "put": put,
    "open": open_, "close": close, "unlock": unlock, "read": read, "use": use,
    "inventory": inventory, "talk": talk, "ask": ask, "give": give, "quests": quests,
    "wait": wait, "save": save, "load": load, "undo": undo, "retry": retry, "rate": rate,
    "help": help_,
    "quit": quit_, "empty": empty, "freeform": freeform,
}  # fmt: skip
