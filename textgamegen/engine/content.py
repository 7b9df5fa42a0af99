"""What the engine asks the generator for.

The engine owns all state and decides everything; it only asks for prose. Each step
returns ``ContentRequest`` objects; the caller (the ``PlaySession`` of ``textgamegen.play`` for the
TUI and scripts, or a test) has a generator narrate them, and hands the text back with
``Game.fulfil`` so first descriptions are cached in the game state and saved.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from textgamegen.engine.world import Word


class ContentKind(str, Enum):
    """The four kinds of text, each with its special token in the training corpus."""

    ACTION = "action"  # narration of the player's action or an event: <|action|>
    ITEM = "item"  # an item's or a person's description; prompted as narration
    ROOM = "room"  # a room's description; prompted as narration
    DIALOGUE = "dialogue"  # what an NPC says: <|dialogue|>
    QUEST = "quest"  # quest talk addressed to "you": <|quest|>


@dataclass(frozen=True)
class ContentRequest:
    """One piece of prose the engine wants written.

    Attributes:
        kind: which kind of text.
        subject: display name of what the text is about ("brass lantern"); may be empty.
        room: display name of the current room.
        command: the player's command as typed (sanitised).
        entities: names the text should mention, most important first.
        story: recent story lines, oldest first, for context.
        seed: per-request seed, derived from the game seed and turn, so a replay is identical.
        cache_key: when set ("item:lantern", "room:hall", "npc:miller"), the first text is
            stored in the game state and reused on every revisit.
        fallback: the engine's own text for this request, shown when no generator can help.
        speaker, persona, topic: for dialogue and quest requests.
        authored: the world's own text for this request. Authored text is canon: the
            engine shows it itself, and the generator only adds a short line of colour
            after it, conditioned on it (an empty line is fine). Empty: the world has no
            text here and the generator writes the whole thing.
        attempt: a free-form action that changes nothing in the world: it must never be
            narrated as if it worked.
        exits: for a text about a room, the directions out of it (locked ones too); the
            narrator names no other compass point. None: the text is not about a room's
            layout and may name any.
        absent_people: names of this world's people that the facts leave out (they are
            not here); the narrator names none of them (see ``engine.names``).
        absent_things: names of this world's things that are not in view, and of places
            that are neither this room nor one of its ways out.
        room_text: for an attempt, the room's own text as the player read it. The line
            may draw on what it names (the dials, the headstones), and is given it as
            fact, as in training, so it has no need to make a room's contents up.
        tone: how the line should sound: the world's ``tone`` and the player's ``note``
            to the narrator, as one line ("" says nothing).
        begun: the start of the line, written earlier and cut short (a line written
            ahead that the player's own request pre-empted); a narrator that resumes
            (``Generator.resumes``) goes on from it, so the words already written are
            not written again. "" starts the line afresh.
    """

    kind: ContentKind
    subject: str = ""
    room: str = ""
    command: str = ""
    entities: tuple[str, ...] = ()
    story: tuple[str, ...] = ()
    seed: int = 0
    cache_key: str | None = None
    fallback: str = ""
    speaker: str = ""
    persona: str = ""
    topic: str = ""
    authored: str = ""
    attempt: bool = False
    exits: tuple[str, ...] | None = None
    absent_people: tuple[str, ...] = ()
    absent_things: tuple[str, ...] = ()
    room_text: str = ""
    tone: str = ""
    begun: str = ""

    def facts_text(self) -> str:
        """Everything the request says is so, as one text: the place, what the line is
        about, who speaks, the world's own text and the command (the story is context,
        not fact)."""
        return " | ".join(
            (
                self.room,
                self.subject,
                self.speaker,
                self.persona,
                self.topic,
                self.authored,
                self.room_text,
                self.command,
                *self.entities,
            )
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        data["entities"] = list(self.entities)
        data["story"] = list(self.story)
        data["exits"] = None if self.exits is None else list(self.exits)
        data["absent_people"] = list(self.absent_people)
        data["absent_things"] = list(self.absent_things)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContentRequest:
        values = dict(data)
        values["kind"] = ContentKind(values["kind"])
        values["entities"] = tuple(values.get("entities", ()))
        values["story"] = tuple(values.get("story", ()))
        if values.get("exits") is not None:
            values["exits"] = tuple(values["exits"])
        for name in ("absent_people", "absent_things"):
            values[name] = tuple(values.get(name, ()))
        known = {name for name in cls.__dataclass_fields__}
        return cls(**{key: value for key, value in values.items() if key in known})


class EventKind(Word):
    """What a line of engine output is; the UI styles each kind its own way."""

    TEXT = "text"  # plain engine text
    ROOM = "room"  # a room heading
    ERROR = "error"  # the command could not be done
    SYSTEM = "system"  # saved, loaded, help
    QUEST = "quest"  # quest progress
    WON = "won"  # the ending
    PROSE = "prose"  # generated text replayed from the cache
    MAP = "map"  # the player's map, drawn in text


@dataclass(frozen=True)
class Event:
    """A line of deterministic engine output ("You take the lantern.")."""

    kind: EventKind
    text: str

    def __post_init__(self) -> None:
        # Callers outside the engine may still pass the plain word ("system").
        object.__setattr__(self, "kind", EventKind(self.kind))


@dataclass
class StepResult:
    """Everything one ``Game.step`` produced.

    Attributes:
        command: the command as understood (sanitised).
        events: engine text, in order.
        changes: short machine-readable descriptions of state changes
            ("room:hall", "+lantern", "-key", "quest:lighthouse:done"), and the player's
            signals about the prose, which change nothing in the game: "retry", and
            "rate:good" or "rate:bad" (``rate good``), for whoever records feedback, and
            "note" when the player changed their note to the narrator.
        requests: prose still to be written by the generator. A request whose cache_key
            already has text is not emitted; that text appears in ``events`` as "prose".
        turn: the turn number after this step.
        won: the game has just been won (or already was).
        quit: the player asked to quit.
        replayed: the cache keys whose cached prose ``events`` shows, in order: prose
            written ahead or on an earlier visit, now in front of the player (so a
            ``rate`` after it is about it).
    """

    command: str
    events: list[Event] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    requests: list[ContentRequest] = field(default_factory=list)
    turn: int = 0
    won: bool = False
    quit: bool = False
    replayed: list[str] = field(default_factory=list)
