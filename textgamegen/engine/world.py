"""Worlds: rooms, items, NPCs and quests read from a TOML file and checked on load.

A world file has a ``[world]`` table (title, intro, start room), a ``[win]`` table, and
``[rooms.KEY]``, ``[items.KEY]``, ``[npcs.KEY]`` and ``[quests.KEY]`` tables. Every
reference (an exit's room, an item's location, a quest's giver) must name something that
exists; a fault raises ``WorldError`` naming the file, the table and the key, e.g.::

    lanternfall.toml: [items.lamp] location: 'attic' is not a room, item, NPC or 'player'

An item's ``location`` is a room key, a container item's key, an NPC's key (the NPC holds
it), ``player`` (carried from the start) or ``nowhere`` (not yet in play; an item's use
can reveal it). See ``assets/worlds/lanternfall.toml`` for a full example.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Collection
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from textgamegen.safe_text import strip_unsafe

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib

DIRECTIONS = (
    "north",
    "south",
    "east",
    "west",
    "northeast",
    "northwest",
    "southeast",
    "southwest",
    "up",
    "down",
    "in",
    "out",
)
PLAYER = "player"
NOWHERE = "nowhere"


class Word(str, Enum):
    """A string enum that reads as its word everywhere (``str()``, f-strings), whatever the
    Python: 3.11 changed what ``format()`` gives for such enums."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class QuestState(Word):
    """How a quest stands. The values are what saves and world files hold."""

    NOT_STARTED = "not started"
    ACTIVE = "active"
    DONE = "done"


class GoalKind(Word):
    """What a quest asks for: bring an item to someone, reach a room, or talk to someone.
    The values are the goal's key in a world file (``goal = { bring = "rope" }``)."""

    BRING = "bring"
    REACH = "reach"
    TALK = "talk"


QUEST_STATES = tuple(state.value for state in QuestState)
GOAL_KINDS = tuple(kind.value for kind in GoalKind)
_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_PHRASE = re.compile(r"^[a-z][a-z' -]*[a-z]$|^[a-z]$")
"""An attempt's command or a piece of scenery: lower-case words, as a player types them."""


class WorldError(ValueError):
    """A world file is broken; the message reads ``<file>: [table.key] key: problem``."""


@dataclass
class Exit:
    """A way out of a room. A locked exit opens with ``key`` (an item) or a use effect."""

    direction: str
    to: str
    locked: bool = False
    key: str = ""
    door: str = ""
    locked_text: str = ""


@dataclass
class Attempt:
    """The authored line for a free-form action in one room ("kick the door"): nothing in
    the world changes, and the line says so. ``needs`` names an item that must be in view
    (here or carried) for the line to hold; "" for none."""

    text: str
    needs: str = ""


@dataclass
class Room:
    key: str
    name: str
    text: str = ""
    exits: dict[str, Exit] = field(default_factory=dict)
    short: str = ""
    """The room's label on the map ("" means the last word of its name)."""
    attempts: dict[str, Attempt] = field(default_factory=dict)
    """Free-form actions a player may try here, keyed by the command as typed (lower case,
    plain words: "kick the door"), each with the line that answers it."""
    colour: tuple[str, ...] = ()
    """Lines of colour that may follow the room's text: one sentence each, true to it."""
    scenery: dict[str, str] = field(default_factory=dict)
    """Things the room's text names that are not items ("iron ring"), with what examining
    them shows."""
    when: dict[str, str] = field(default_factory=dict)
    """Texts that replace ``text`` once a story flag is set (flag -> text): the lamp room
    after the great lantern is lit. Of several flags set, the last listed wins."""

    def text_now(self, flags: Collection[str]) -> tuple[str, str]:
        """The room's text as it stands with these flags set, and the flag it follows
        ("" for its plain ``text``)."""
        return text_for(self.text, self.when, flags)


@dataclass
class Use:
    """What happens when an item is used: a message and optional effects on the world.

    Attributes:
        text: what the player reads when it works.
        on: the item or NPC it must be used on ("" for on nothing).
        room: the room it must be used in ("" for anywhere).
        needs: items that must be inside ``on`` (a container) for it to work.
        fail: what the player reads when ``room`` or ``needs`` is not met.
        reveals: items that appear in the current room.
        removes: items taken out of play.
        unlocks: exits unlocked, as "room.direction".
        flag: a story flag set (the winning condition may need it).
        verbs: other verbs that do this use ("light" for a tinderbox on a lantern), so
            "light lantern" works as well as "use tinderbox on lantern".
        ready: what the player reads on trying a way this use ``unlocks`` while holding
            the item, before using it ("Tie the rope to the iron ring first"); "" gives
            the way's own locked text and a plain word that the item could open it.
    """

    text: str
    on: str = ""
    room: str = ""
    needs: tuple[str, ...] = ()
    fail: str = ""
    reveals: tuple[str, ...] = ()
    removes: tuple[str, ...] = ()
    unlocks: tuple[str, ...] = ()
    flag: str = ""
    verbs: tuple[str, ...] = ()
    ready: str = ""


ARTICLE_NONE = "none"
"""``article = "none"`` for a name that takes no article ("Alice's fan" reads as it is)."""


@dataclass
class Item:
    """A thing. ``closed``/``lock`` give a container's starting state.

    ``article`` is the word a list puts before the name ("a", "an", "some", "the", or
    "none"); empty means the game chooses: "some" when ``plural``, else "a" or "an".
    """

    key: str
    name: str
    aliases: tuple[str, ...] = ()
    text: str = ""
    location: str = NOWHERE
    portable: bool = True
    container: bool = False
    closed: bool = False
    lock: str = ""
    read: str = ""
    use: Use | None = None
    article: str = ""
    plural: bool = False
    when: dict[str, str] = field(default_factory=dict)
    """Texts that replace ``text`` once a story flag is set (flag -> text), as a room's."""

    def text_now(self, flags: Collection[str]) -> tuple[str, str]:
        """The item's text with these flags set, and the flag it follows ("" for none)."""
        return text_for(self.text, self.when, flags)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    @property
    def indefinite(self) -> str:
        """The name with its article, as a list of things shows it ("some sea charts")."""
        if self.article == ARTICLE_NONE:
            return self.name
        if self.article:
            return f"{self.article} {self.name}"
        if self.plural:
            return f"some {self.name}"
        return with_article(self.name)

    @property
    def verb_be(self) -> str:
        """ "are" for a plural item, else "is": "The sea charts are ..."."""
        return "are" if self.plural else "is"


def text_for(text: str, when: dict[str, str], flags: Collection[str]) -> tuple[str, str]:
    """The text that holds now: the ``when`` text of the last listed flag that is set, else
    ``text``; with the flag it follows ("" for ``text`` itself)."""
    for flag in reversed(when):
        if flag in flags:
            return when[flag], flag
    return text, ""


def with_article(name: str) -> str:
    """ "a" or "an" before a name by its first letter (the world can override per item)."""
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


@dataclass
class Npc:
    """A character. ``wants`` an item and ``gives`` one back in trade."""

    key: str
    name: str
    aliases: tuple[str, ...] = ()
    persona: str = ""
    text: str = ""
    location: str = ""
    greeting: str = ""
    topics: dict[str, str] = field(default_factory=dict)
    unknown: str = ""
    wants: str = ""
    gives: str = ""
    thanks: str = ""
    refuse: str = ""
    remarks: tuple[str, ...] = ()
    """More lines in this person's voice, on no topic in particular (said on a later talk)."""

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass
class Goal:
    """A quest's goal: bring ``target`` (an item) to ``to``, reach a room, or talk to an NPC."""

    kind: GoalKind
    target: str
    to: str = ""


@dataclass
class Quest:
    key: str
    title: str
    giver: str
    goal: Goal
    text: str = ""
    done_text: str = ""
    reward: str = ""
    state: QuestState = QuestState.NOT_STARTED
    hints: tuple[str, ...] = ()
    """Nudges for ``hint``, vaguest first; after the last, the game names the next step."""
    next: str = ""
    """What the quest opens up, shown when it is done, so it always leads somewhere."""
    reminders: tuple[str, ...] = ()
    """What the giver says of the quest while it is active, in their own voice."""


@dataclass
class WinCondition:
    """The game is won when every quest here is done, every flag set and (if set) the room
    reached."""

    quests: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    room: str = ""
    text: str = "You have won."
    hints: tuple[str, ...] = ()
    """Nudges for ``hint`` once no quest is active, vaguest first."""


MAX_TONE_CHARS = 200
"""A world's tone, and a player's note to the narrator, are one short line of facts."""


@dataclass
class World:
    name: str
    title: str
    start: str
    rooms: dict[str, Room]
    items: dict[str, Item] = field(default_factory=dict)
    npcs: dict[str, Npc] = field(default_factory=dict)
    quests: dict[str, Quest] = field(default_factory=dict)
    win: WinCondition = field(default_factory=WinCondition)
    intro: str = ""
    path: Path | None = None
    narrator: str = ""
    """The model the world is written for ("alice"); "" means the player's default."""
    tone: str = ""
    """How the world's prose should sound ("wry and wintry, short sentences"), a fact the
    narrator is given with every line; "" says nothing."""


class _Table:
    """Reads one TOML table, naming the file, table and key in every error."""

    def __init__(self, source: str, name: str, data: Any) -> None:
        self.source = source
        self.name = name
        if not isinstance(data, dict):
            raise WorldError(f"{source}: [{name}] must be a table")
        self.data = data
        self.seen: set[str] = set()

    def error(self, key: str, problem: str) -> WorldError:
        return WorldError(f"{self.source}: [{self.name}] {key}: {problem}")

    def _get(self, key: str, kind: type | tuple[type, ...], default: Any, required: bool) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if required:
                raise self.error(key, "missing")
            return default
        value = self.data[key]
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.error(key, f"must be {names}, not {type(value).__name__}")
        return value

    def text(self, key: str, default: str = "", required: bool = False) -> str:
        # Cleaned here, once, so no later path (transcript, TUI, prompt) can miss it.
        value = strip_unsafe(self._get(key, str, default, required))
        if required and not value.strip():
            raise self.error(key, "must not be empty")
        return value.strip()

    def flag(self, key: str, default: bool = False) -> bool:
        return self._get(key, bool, default, False)

    def texts(self, key: str) -> tuple[str, ...]:
        value = self._get(key, (list, str), [], False)
        values = [value] if isinstance(value, str) else value
        if not all(isinstance(v, str) for v in values):
            raise self.error(key, "must be a list of strings")
        cleaned = (strip_unsafe(v, keep_newlines=False).strip() for v in values)
        return tuple(v for v in cleaned if v)

    def table(self, key: str) -> dict[str, Any]:
        return self._get(key, dict, {}, False)

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise self.error(unknown[0], "unknown key")


def _entries(source: str, data: dict[str, Any], table: str) -> dict[str, Any]:
    entries = data.get(table, {})
    if not isinstance(entries, dict):
        raise WorldError(f"{source}: [{table}] must be a table of tables")
    for key in entries:
        if not _KEY.match(key):
            raise WorldError(f"{source}: [{table}.{key}] key: use letters, digits, _ or -")
    return entries


def _read_exit(source: str, room: str, direction: str, value: Any) -> Exit:
    name = f"rooms.{room}.exits"
    if direction not in DIRECTIONS:
        raise WorldError(
            f"{source}: [{name}] {direction}: not a direction ({', '.join(DIRECTIONS)})"
        )
    if isinstance(value, str):
        return Exit(direction, value)
    table = _Table(source, f"{name}.{direction}", value)
    found = Exit(
        direction=direction,
        to=table.text("to", required=True),
        locked=table.flag("locked"),
        key=table.text("key"),
        door=table.text("door"),
        locked_text=table.text("locked_text"),
    )
    table.finish()
    return found


def _read_room(source: str, key: str, data: Any) -> Room:
    table = _Table(source, f"rooms.{key}", data)
    room = Room(
        key=key,
        name=table.text("name", required=True),
        text=table.text("text"),
        short=table.text("short"),
    )
    for direction, value in table.table("exits").items():
        room.exits[direction] = _read_exit(source, key, direction, value)
    for command, value in table.table("attempts").items():
        room.attempts[_phrase(table, "attempts", command)] = _read_attempt(
            source, key, command, value
        )
    for noun, value in table.table("scenery").items():
        if not isinstance(value, str) or not strip_unsafe(value).strip():
            raise WorldError(f"{source}: [rooms.{key}.scenery] {noun}: must be a text")
        room.scenery[_phrase(table, "scenery", noun)] = strip_unsafe(value).strip()
    room.colour = table.texts("colour")
    room.when = _read_when(source, f"rooms.{key}", table)
    table.finish()
    return room


def _read_when(source: str, name: str, table: _Table) -> dict[str, str]:
    """A ``when`` table: story flag -> the text that holds once it is set."""
    found = {}
    for flag, value in table.table("when").items():
        if not isinstance(value, str) or not strip_unsafe(value).strip():
            raise WorldError(f"{source}: [{name}.when] {flag}: must be a text")
        found[flag] = strip_unsafe(value).strip()
    return found


def _phrase(table: _Table, key: str, phrase: str) -> str:
    words = " ".join(strip_unsafe(phrase, keep_newlines=False).split())
    if not _PHRASE.match(words):
        raise WorldError(
            f"{table.source}: [{table.name}.{key}] '{phrase}': use lower-case words, as typed"
        )
    return words


def _read_attempt(source: str, room: str, command: str, value: Any) -> Attempt:
    if isinstance(value, str):
        value = {"text": value}
    table = _Table(source, f"rooms.{room}.attempts.'{command}'", value)
    attempt = Attempt(text=table.text("text", required=True), needs=table.text("needs"))
    table.finish()
    return attempt


def _read_use(source: str, key: str, data: Any) -> Use:
    table = _Table(source, f"items.{key}.use", data)
    use = Use(
        text=table.text("text", required=True),
        on=table.text("on"),
        room=table.text("room"),
        needs=table.texts("needs"),
        fail=table.text("fail"),
        reveals=table.texts("reveals"),
        removes=table.texts("removes"),
        unlocks=table.texts("unlocks"),
        flag=table.text("flag"),
        verbs=tuple(verb.casefold() for verb in table.texts("verbs")),
        ready=table.text("ready"),
    )
    for verb in use.verbs:
        if not re.fullmatch(r"[a-z]+( [a-z]+)?", verb):
            raise table.error("verbs", f"'{verb}' is not a verb (one or two plain words)")
    table.finish()
    return use


def _read_item(source: str, key: str, data: Any) -> Item:
    table = _Table(source, f"items.{key}", data)
    item = Item(
        key=key,
        name=table.text("name", required=True),
        aliases=table.texts("aliases"),
        text=table.text("text"),
        location=table.text("location", required=True),
        portable=table.flag("portable", True),
        container=table.flag("container"),
        closed=table.flag("closed"),
        lock=table.text("lock"),
        read=table.text("read"),
        article=table.text("article").casefold(),
        plural=table.flag("plural"),
    )
    if item.article and not re.fullmatch(r"[a-z]+", item.article):
        raise table.error("article", "must be one word (a, an, some, the) or 'none'")
    if "use" in table.data:
        item.use = _read_use(source, key, table.table("use"))
    item.when = _read_when(source, f"items.{key}", table)
    if (item.closed or item.lock) and not item.container:
        raise table.error(
            "closed" if item.closed else "lock", "only a container can be closed or locked"
        )
    if item.lock and not item.closed:
        raise table.error("lock", "a locked container must also be closed = true")
    table.finish()
    return item


def _read_npc(source: str, key: str, data: Any) -> Npc:
    table = _Table(source, f"npcs.{key}", data)
    topics = table.table("topics")
    for topic, answer in topics.items():
        if not isinstance(answer, str):
            raise WorldError(f"{source}: [npcs.{key}.topics] {topic}: must be a string")
    npc = Npc(
        key=key,
        name=table.text("name", required=True),
        aliases=table.texts("aliases"),
        persona=table.text("persona"),
        text=table.text("text"),
        location=table.text("location", required=True),
        greeting=table.text("greeting"),
        topics={
            strip_unsafe(topic, keep_newlines=False).lower(): strip_unsafe(answer).strip()
            for topic, answer in topics.items()
        },
        unknown=table.text("unknown"),
        wants=table.text("wants"),
        gives=table.text("gives"),
        thanks=table.text("thanks"),
        refuse=table.text("refuse"),
        remarks=table.texts("remarks"),
    )
    table.finish()
    return npc


def _read_quest(source: str, key: str, data: Any) -> Quest:
    table = _Table(source, f"quests.{key}", data)
    goal_table = _Table(source, f"quests.{key}.goal", table.table("goal"))
    kinds = [kind for kind in GOAL_KINDS if kind in goal_table.data]
    if len(kinds) != 1:
        raise goal_table.error("goal", f"needs exactly one of {', '.join(GOAL_KINDS)}")
    goal = Goal(
        kind=GoalKind(kinds[0]),
        target=goal_table.text(kinds[0], required=True),
        to=goal_table.text("to"),
    )
    if goal.to and goal.kind != GoalKind.BRING:
        raise goal_table.error("to", "only a bring goal has a 'to'")
    goal_table.finish()
    quest = Quest(
        key=key,
        title=table.text("title", required=True),
        giver=table.text("giver", required=True),
        goal=goal,
        text=table.text("text"),
        done_text=table.text("done_text"),
        reward=table.text("reward"),
        hints=table.texts("hints"),
        next=table.text("next"),
        reminders=table.texts("reminders"),
    )
    state = table.text("state", QuestState.NOT_STARTED.value)
    if state not in QUEST_STATES:
        raise table.error("state", f"must be one of {', '.join(QUEST_STATES)}")
    quest.state = QuestState(state)
    if goal.kind == GoalKind.BRING and not goal.to:
        goal.to = quest.giver
    table.finish()
    return quest


def parse_world(text: str, source: str = "<world>", name: str = "world") -> World:
    """Build and validate a world from TOML text.

    Args:
        text: the TOML document.
        source: the file name used in error messages.
        name: the world's short name (the file stem).

    Returns:
        The checked world.

    Raises:
        WorldError: the TOML is broken, a key is unknown or has the wrong type, or a
            reference names a room, item or NPC that does not exist.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise WorldError(f"{source}: not valid TOML: {error}") from None
    except RecursionError:
        # tomllib recurses once per nested array or inline table.
        raise WorldError(
            f"{source}: not a world: arrays or tables nested too deeply to read"
        ) from None
    top = _Table(source, "top level", data)
    for key in ("world", "win", "rooms", "items", "npcs", "quests"):
        top.seen.add(key)
    top.finish()

    head = _Table(source, "world", data.get("world", {}))
    title = head.text("title", required=True)
    start = head.text("start", required=True)
    intro = head.text("intro")
    narrator = head.text("narrator")
    tone = " ".join(head.text("tone").split())[:MAX_TONE_CHARS]
    head.finish()

    rooms = {
        key: _read_room(source, key, value)
        for key, value in _entries(source, data, "rooms").items()
    }
    if not rooms:
        raise WorldError(f"{source}: [rooms] rooms: a world needs at least one room")
    items = {
        key: _read_item(source, key, value)
        for key, value in _entries(source, data, "items").items()
    }
    npcs = {
        key: _read_npc(source, key, value) for key, value in _entries(source, data, "npcs").items()
    }
    quests = {
        key: _read_quest(source, key, value)
        for key, value in _entries(source, data, "quests").items()
    }

    win_table = _Table(source, "win", data.get("win", {}))
    win = WinCondition(
        quests=win_table.texts("quests"),
        flags=win_table.texts("flags"),
        room=win_table.text("room"),
        text=win_table.text("text", "You have won."),
        hints=win_table.texts("hints"),
    )
    win_table.finish()

    world = World(
        name=name,
        title=title,
        start=start,
        rooms=rooms,
        items=items,
        npcs=npcs,
        quests=quests,
        win=win,
        intro=intro,
        narrator=narrator,
        tone=tone,
    )
    _check_references(source, world)
    return world


def _check_references(source: str, world: World) -> None:
    def fail(table: str, key: str, problem: str) -> WorldError:
        return WorldError(f"{source}: [{table}] {key}: {problem}")

    def need(kinds: dict[str, Any], what: str, value: str, table: str, key: str) -> None:
        if value and value not in kinds:
            raise fail(table, key, f"{what} '{value}' does not exist")

    clashes = (
        (set(world.rooms) & set(world.items))
        | (set(world.rooms) & set(world.npcs))
        | (set(world.items) & set(world.npcs))
    )
    for key in sorted(clashes):
        raise fail("top level", key, "a room, item and NPC may not share a key")
    for reserved in (PLAYER, NOWHERE):
        if reserved in world.rooms or reserved in world.items or reserved in world.npcs:
            raise fail("top level", reserved, "is a reserved word, not a key")

    need(world.rooms, "room", world.start, "world", "start")
    flags = {item.use.flag for item in world.items.values() if item.use and item.use.flag}
    texts_when = [(f"rooms.{room.key}.when", room.when) for room in world.rooms.values()]
    texts_when += [(f"items.{item.key}.when", item.when) for item in world.items.values()]
    for table_name, when in texts_when:
        for flag in when:
            if flag not in flags:
                raise fail(
                    table_name, flag, "no item's use sets this flag; the text would never show"
                )
    for room in world.rooms.values():
        for command, attempt in room.attempts.items():
            need(
                world.items,
                "item",
                attempt.needs,
                f"rooms.{room.key}.attempts.'{command}'",
                "needs",
            )
        for exit_ in room.exits.values():
            table = f"rooms.{room.key}.exits"
            need(world.rooms, "room", exit_.to, table, exit_.direction)
            need(world.items, "item", exit_.key, f"{table}.{exit_.direction}", "key")
            if exit_.key and not exit_.locked:
                raise fail(f"{table}.{exit_.direction}", "key", "only a locked exit needs a key")
    for item in world.items.values():
        table = f"items.{item.key}"
        places = set(world.rooms) | set(world.items) | set(world.npcs) | {PLAYER, NOWHERE}
        if item.location not in places:
            raise fail(
                table,
                "location",
                f"'{item.location}' is not a room, item, NPC, 'player' or 'nowhere'",
            )
        if item.location in world.items and not world.items[item.location].container:
            raise fail(table, "location", f"item '{item.location}' is not a container")
        if item.location == item.key:
            raise fail(table, "location", "an item cannot be inside itself")
        need(world.items, "item", item.lock, table, "lock")
        if item.use:
            use = item.use
            if use.on and use.on not in world.items and use.on not in world.npcs:
                raise fail(f"{table}.use", "on", f"item or NPC '{use.on}' does not exist")
            need(world.rooms, "room", use.room, f"{table}.use", "room")
            for key_name, keys in (
                ("needs", use.needs),
                ("reveals", use.reveals),
                ("removes", use.removes),
            ):
                for value in keys:
                    need(world.items, "item", value, f"{table}.use", key_name)
            if use.needs and not (use.on in world.items and world.items[use.on].container):
                raise fail(f"{table}.use", "needs", "needs only works when 'on' is a container")
            for target in use.unlocks:
                room_key, _, direction = target.partition(".")
                if room_key not in world.rooms or direction not in world.rooms[room_key].exits:
                    raise fail(
                        f"{table}.use",
                        "unlocks",
                        f"exit '{target}' does not exist (use room.direction)",
                    )
    for npc in world.npcs.values():
        table = f"npcs.{npc.key}"
        need(world.rooms, "room", npc.location, table, "location")
        need(world.items, "item", npc.wants, table, "wants")
        need(world.items, "item", npc.gives, table, "gives")
    for quest in world.quests.values():
        table = f"quests.{quest.key}"
        need(world.npcs, "NPC", quest.giver, table, "giver")
        need(world.items, "item", quest.reward, table, "reward")
        goal = quest.goal
        kinds: dict[GoalKind, tuple[dict[str, Any], str]] = {
            GoalKind.BRING: (world.items, "item"),
            GoalKind.REACH: (world.rooms, "room"),
            GoalKind.TALK: (world.npcs, "NPC"),
        }
        found, what = kinds[goal.kind]
        need(found, what, goal.target, f"{table}.goal", goal.kind.value)
        need(world.npcs, "NPC", goal.to, f"{table}.goal", "to")
    for key in world.win.quests:
        need(world.quests, "quest", key, "win", "quests")
    need(world.rooms, "room", world.win.room, "win", "room")
    if not (world.win.quests or world.win.flags or world.win.room):
        raise fail("win", "win", "needs at least one of quests, flags or room")


def load_world(path: Path) -> World:
    """Read and validate a world file.

    Args:
        path: a ``.toml`` world file.

    Returns:
        The checked world, named after the file's stem.

    Raises:
        WorldError: the file cannot be read or is not a valid world.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise WorldError(f"{path}: cannot read the world file: {error}") from None
    world = parse_world(text, source=path.name, name=path.stem)
    world.path = path
    return world
