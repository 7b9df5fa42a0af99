"""The command parser: typed text in, a ``Command`` out. It never fails on any string.

The verb table is data (``VERBS``); a ``Parser`` builds its own lookup from it, so each
game holds its own registry and nothing global is mutated. A verb phrase may be several
words ("pick up", "talk to"); the longest match wins. Articles are dropped from nouns,
case is ignored, and a line that starts with no known verb becomes a free-form action.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from textgamegen.safe_text import strip_unsafe

if TYPE_CHECKING:
    from textgamegen.engine.world import World

MAX_COMMAND_CHARS = 200
ARTICLES = frozenset({"the", "a", "an", "some", "my", "this", "that"})
DIRECTION_WORDS = {
    "n": "north",
    "s": "south",
    "e": "east",
    "w": "west",
    "ne": "northeast",
    "nw": "northwest",
    "se": "southeast",
    "sw": "southwest",
    "u": "up",
    "d": "down",
    "north": "north",
    "south": "south",
    "east": "east",
    "west": "west",
    "northeast": "northeast",
    "northwest": "northwest",
    "southeast": "southeast",
    "southwest": "southwest",
    "up": "up",
    "down": "down",
    "in": "in",
    "out": "out",
    "inside": "in",
    "outside": "out",
    "enter": "in",
    "exit": "out",
    "leave": "out",
}

LOOK_WORDS = frozenset(
    {
        "at",
        "in",
        "into",
        "inside",
        "out",
        "to",
        "towards",
        "toward",
        "through",
        "under",
        "on",
        "over",
        "across",
        "around",
        "behind",
        "of",
        "up",
        "down",
    }
)
"""Words between "look" and the thing looked at ("look out to sea" looks at the sea)."""

# Command shapes: what follows the verb.
NONE = "none"  # nothing ("look", "inventory")
NOUN = "noun"  # one noun phrase, or "all"
PAIR = "pair"  # noun, preposition, noun ("put coin in box"); the second may be optional
DIRECTION = "direction"
REST = "rest"  # the rest of the line as typed ("save my game")


@dataclass(frozen=True)
class Verb:
    """One verb in the table.

    Attributes:
        action: the handler's name in the game ("take").
        words: every phrase that means it, first is the canonical one ("take", "pick up").
        shape: what follows the verb.
        preps: for PAIR, the words that split the two nouns.
        second_needed: for PAIR, whether the second noun must be there.
        help: its line on the help screen ("help" and the UI's help both list the table).
        meta: it speaks about the game, not in it (save, hint, undo...): it takes no turn
            and cannot be undone.
    """

    action: str
    words: tuple[str, ...]
    shape: str = NONE
    preps: tuple[str, ...] = ()
    second_needed: bool = False
    help: str = ""
    meta: bool = False


VERBS: tuple[Verb, ...] = (
    Verb(
        "go",
        ("go", "walk", "run", "head", "move", "climb"),
        DIRECTION,
        help="go DIRECTION (or just n, s, e, w, ne, nw, se, sw, up, down, in, out)",
    ),
    Verb(
        "look",
        ("look", "l", "look around"),
        NONE,
        help="look (l): describe the room again; look THING examines it",
    ),
    Verb(
        "examine",
        ("examine", "x", "look at", "inspect", "check", "describe", "look in", "search"),
        NOUN,
        help="examine THING (x THING)",
    ),
    Verb(
        "take",
        ("take", "get", "pick up", "grab", "collect"),
        PAIR,
        ("from", "off", "out of"),
        help="take THING, take all",
    ),
    Verb(
        "drop", ("drop", "put down", "discard", "leave behind"), NOUN, help="drop THING, drop all"
    ),
    Verb(
        "put",
        ("put", "place", "insert", "stow"),
        PAIR,
        ("in", "into", "inside", "on", "onto"),
        True,
        help="put THING in CONTAINER",
    ),
    Verb("open", ("open",), NOUN, help="open THING"),
    Verb("close", ("close", "shut"), NOUN, help="close THING"),
    Verb("unlock", ("unlock",), PAIR, ("with", "using"), help="unlock DOOR with KEY"),
    Verb("read", ("read", "peruse", "study"), NOUN, help="read THING"),
    Verb(
        "use",
        ("use", "apply", "tie"),
        PAIR,
        ("on", "with", "in", "to", "at"),
        help="use THING (on OTHER)",
    ),
    Verb("inventory", ("inventory", "i", "inv", "invent"), NONE, help="inventory (i)", meta=True),
    Verb(
        "talk",
        (
            "talk to",
            "talk with",
            "talk",
            "speak to",
            "speak with",
            "speak",
            "greet",
            "chat with",
            "hail",
        ),
        NOUN,
        help="talk to PERSON",
    ),
    Verb(
        "ask",
        ("ask", "question", "tell"),
        PAIR,
        ("about", "of"),
        True,
        help="ask PERSON about TOPIC",
    ),
    Verb("give", ("give", "offer", "hand"), PAIR, ("to",), True, help="give THING to PERSON"),
    Verb(
        "buy",
        ("buy", "purchase", "pay for", "trade for"),
        PAIR,
        ("from", "with"),
        help="buy THING (from PERSON): trade what they want for it",
    ),
    Verb(
        "quests",
        ("quests", "journal", "quest", "log", "j"),
        NONE,
        help="quests (journal)",
        meta=True,
    ),
    Verb(
        "hint",
        ("hint", "hints", "clue"),
        NONE,
        help="hint: a nudge towards the next step (again for a plainer one)",
        meta=True,
    ),
    Verb("map", ("map",), NONE, help="map: the places you have been", meta=True),
    Verb("wait", ("wait", "z", "rest", "sleep"), NONE, help="wait (z)"),
    Verb("save", ("save",), REST, help="save NAME", meta=True),
    Verb("load", ("load", "restore"), REST, help="load NAME", meta=True),
    Verb("undo", ("undo",), NONE, help="undo: take back the last move", meta=True),
    Verb("again", ("again", "g"), NONE, help="again (g): repeat the last command"),
    Verb("retry", ("retry", "regenerate"), NONE, help="retry: rewrite the last prose", meta=True),
    Verb(
        "note",
        ("note",),
        REST,
        help="note TEXT: a word to the narrator on how to tell it ('note darker, more rain');"
        " note alone shows it, 'note off' drops it",
        meta=True,
    ),
    Verb(
        "rate",
        ("rate",),
        REST,
        help="rate good/bad: tell the narrator what you thought of the last passage",
        meta=True,
    ),
    Verb("help", ("help", "h", "?", "commands"), NONE, help="help", meta=True),
    Verb("quit", ("quit", "q", "bye"), NONE, help="quit (saves first)", meta=True),
)


WORLD_VERB = "world_verb"
"""The action of a verb a world declares on an item's use (``verbs = ["light"]``)."""


def world_verbs(world: World) -> tuple[Verb, ...]:
    """Verbs the world's items declare, as parser verbs; the built-in table wins a clash."""
    words = sorted({verb for item in world.items.values() if item.use for verb in item.use.verbs})
    if not words:
        return ()
    return (Verb(WORLD_VERB, tuple(words), PAIR, ("with", "using", "on", "to", "at", "in")),)


@dataclass(frozen=True)
class Command:
    """A parsed command.

    Attributes:
        action: the handler ("take"), "freeform" for an unknown verb, "empty" for nothing.
        text: the whole command, sanitised and lower-cased.
        noun: the first noun phrase, articles dropped ("brass key"), or a direction.
        noun2: the second noun phrase ("box" in "put coin in box").
        prep: the word between them.
        all: the noun was "all" / "everything".
        rest: for save/load, the words after the verb as typed.
        verb: the verb phrase as matched ("light", "look at"); "" for none.
    """

    action: str
    text: str
    noun: str = ""
    noun2: str = ""
    prep: str = ""
    all: bool = False
    rest: str = ""
    verb: str = ""


def clean_command(raw: object) -> str:
    """Make any input a short, single-line, printable command."""
    text = raw if isinstance(raw, str) else str(raw)
    text = text[: MAX_COMMAND_CHARS * 4]
    text = strip_unsafe(text, keep_newlines=False)
    text = " ".join(text.split())
    return text[:MAX_COMMAND_CHARS].strip()


def noun_words(phrase: str) -> list[str]:
    """The words of a noun phrase without articles or punctuation."""
    words = re.findall(r"[^\W_]+(?:['-][^\W_]+)*", phrase.casefold())
    return [word for word in words if word not in ARTICLES]


EMPTY = "empty"
"""The action of an empty line."""


class Parser:
    """Turns commands into ``Command`` objects using its own copy of a verb table."""

    def __init__(self, verbs: tuple[Verb, ...] = VERBS) -> None:
        self.verbs = verbs
        self.meta_actions = frozenset({EMPTY, *(verb.action for verb in verbs if verb.meta)})
        """Actions that take no turn: the meta verbs', and an empty line's."""
        self._phrases: dict[tuple[str, ...], Verb] = {}
        for verb in verbs:
            for phrase in verb.words:
                self._phrases.setdefault(tuple(phrase.split()), verb)
        self._longest = max(len(phrase) for phrase in self._phrases)

    def words(self) -> list[str]:
        """Every verb phrase and direction the parser knows, canonical ones first."""
        known = [phrase for verb in self.verbs for phrase in verb.words]
        return known + [word for word in DIRECTION_WORDS if word not in known]

    def parse(self, raw: object) -> Command:
        command, verb = self._parse(raw)
        return replace(command, verb=verb) if verb else command

    def _parse(self, raw: object) -> tuple[Command, str]:
        text = clean_command(raw)
        lowered = text.casefold()
        tokens = lowered.split()
        if not tokens:
            return Command(EMPTY, ""), ""
        tokens = [token.strip(".!,;:") or token for token in tokens]
        if len(tokens) == 1 and tokens[0] in DIRECTION_WORDS:
            return Command("go", lowered, noun=DIRECTION_WORDS[tokens[0]]), ""
        verb, used = self._match(tokens)
        if verb is None:
            noun = " ".join(noun_words(" ".join(tokens[1:])))
            return Command("freeform", lowered, noun=noun), ""
        typed = " ".join(tokens[:used])
        after = tokens[used:]
        original_rest = " ".join(text.split()[used:])
        if verb.shape == NONE:
            if after and used == 1 and len(tokens[0]) == 1 and verb.action != "look":
                # "i want to fly" is a free-form action, not the inventory.
                noun = " ".join(noun_words(" ".join(after)))
                return Command("freeform", lowered, noun=noun), ""
            if verb.action == "look" and after:
                # "look lantern", "look at lantern" and "look out to sea" all examine.
                words = noun_words(" ".join(after))
                while len(words) > 1 and words[0] in LOOK_WORDS:
                    words = words[1:]
                return Command("examine", lowered, noun=" ".join(words)), typed
            return Command(verb.action, lowered), typed
        if verb.shape == REST:
            return Command(verb.action, lowered, rest=original_rest), typed
        if verb.shape == DIRECTION:
            words = noun_words(" ".join(after))
            words = [word for word in words if word not in ("to", "through", "towards")]
            phrase = " ".join(words)
            if words and words[0] in DIRECTION_WORDS and phrase not in DIRECTION_WORDS:
                # "climb down the rope": the direction is what counts.
                phrase = words[0]
            direction = DIRECTION_WORDS.get(phrase, phrase)
            return Command("go", lowered, noun=direction), typed
        if verb.shape == NOUN:
            return self._with_noun(verb.action, lowered, after), typed
        return self._pair(verb, lowered, after), typed

    def _match(self, tokens: list[str]) -> tuple[Verb | None, int]:
        for size in range(min(self._longest, len(tokens)), 0, -1):
            verb = self._phrases.get(tuple(tokens[:size]))
            if verb is not None:
                return verb, size
        return None, 0

    @staticmethod
    def _with_noun(action: str, text: str, words: list[str]) -> Command:
        phrase = " ".join(noun_words(" ".join(words)))
        everything = phrase in ("all", "everything")
        return Command(action, text, noun="" if everything else phrase, all=everything)

    def _pair(self, verb: Verb, text: str, words: list[str]) -> Command:
        # Split at the first preposition the verb allows (a two-word one counts too).
        for index in range(len(words)):
            for prep in verb.preps:
                size = len(prep.split())
                if tuple(words[index : index + size]) == tuple(prep.split()) and index > 0:
                    first = self._with_noun(verb.action, text, words[:index])
                    second = " ".join(noun_words(" ".join(words[index + size :])))
                    return Command(
                        verb.action, text, noun=first.noun, noun2=second, prep=prep, all=first.all
                    )
        return self._with_noun(verb.action, text, words)
