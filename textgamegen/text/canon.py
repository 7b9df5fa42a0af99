"""What the narrator may not contradict: the ways out of a room, and who and what is there.

The engine owns the map. A room's line of colour that says "a path leads north" where
the room has no north exit sends the player the wrong way, and playing Wonderland showed
the narrator doing it ("Exit to the north, east, west..." in a wood whose ways out are
south and east). A request about a room carries its exits (``ContentRequest.exits``);
the compass words that are *not* among them are barred while decoding (``barred_words``)
and count against a candidate in the rerank (``false_directions``), which also covers a
model server that decodes on its own.

Only the eight compass points are guarded: "up", "down", "in" and "out" are everyday
words that no sentence could do without.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from textgamegen.engine.content import ContentRequest
from textgamegen.engine.world import DIRECTIONS
from textgamegen.text.model_lists import read_model_list

COMPASS = tuple(d for d in DIRECTIONS if d not in ("up", "down", "in", "out"))
_DIRECTION = re.compile(
    r"\b(north|south)[\s-]?(east|west)\b|\b(north|south|east|west)\b", re.IGNORECASE
)


def named_directions(text: str) -> list[str]:
    """The compass points ``text`` names, in order, each once ("north-east" is one)."""
    named: list[str] = []
    for match in _DIRECTION.finditer(text):
        word = (match.group(1) + match.group(2) if match.group(1) else match.group(3)).casefold()
        if word not in named:
            named.append(word)
    return named


def _barred_directions(request: ContentRequest) -> list[str]:
    """Compass points the text must not name: those that are not a way out of the room
    (none when the request is not about a room's layout). A point the facts name
    themselves stays free: the North Tower may be called by its name, and a world's own
    "the sea lies to the west" may be echoed."""
    if request.exits is None:
        return []
    free = {direction.casefold() for direction in request.exits}
    for fact in (request.subject, request.room, request.authored, *request.entities):
        free.update(named_directions(fact))
    return [direction for direction in COMPASS if direction not in free]


def false_directions(text: str, request: ContentRequest) -> list[str]:
    """The compass points ``text`` names that are not among the request's exits."""
    barred = set(_barred_directions(request))
    if not barred:
        return []
    return [word for word in named_directions(text) if word in barred]


# -- names: the world's own, the training books', and who is speaking -------------------

SPEECH_VERBS = (
    "says",
    "said",
    "replies",
    "replied",
    "asks",
    "asked",
    "answers",
    "answered",
    "adds",
    "added",
    "whispers",
    "whispered",
    "mutters",
    "muttered",
    "calls",
    "called",
    "cries",
    "cried",
    "shouts",
    "shouted",
)
_PRONOUNS = {"he", "she", "they", "it", "i", "you", "we", "one"}
_SPEECH = "|".join(SPEECH_VERBS)
_TAG_AFTER = re.compile(
    rf"\b(?:{_SPEECH})\s+(?:the\s+([A-Za-z][\w'-]*)(?:\s+([A-Za-z][\w'-]*))?"
    rf"|([A-Z][\w'-]*)(?:\s+([A-Z][\w'-]*))?)"
)
_TAG_BEFORE = re.compile(rf"(?:\b[Tt]he\s+([a-z][\w'-]*)|\b([A-Z][\w'-]*))\s+(?:{_SPEECH})\b")
_CAPITALISED = re.compile(r"\b[A-Z][a-z][\w'’-]*")
CAST_FILE = "cast.json"
CAST_VERSION = 1


class Kind:
    """What a contradiction gets wrong."""

    FALSE_EXIT = "false exit"
    ABSENT_PERSON = "absent person"
    ABSENT_THING = "absent thing"
    FOREIGN_NAME = "foreign name"
    UNKNOWN_NAME = "unknown name"
    WRONG_SPEAKER = "wrong speaker"
    DEED = "deed"


@dataclass(frozen=True)
class Contradiction:
    """One thing a line says that the game's facts do not allow."""

    kind: str
    words: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.words}"


class CastError(ValueError):
    """A cast list that cannot be read; the game plays on without that guard."""


@dataclass(frozen=True)
class Cast:
    """Proper names from the narrator's training text (``cast.json`` in its folder): the
    people and places of the books it read. A world that does not use one of them must
    never hear it ("said the Mock Turtle" in an abbey)."""

    names: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.names)

    def to_json(self) -> str:
        return json.dumps({"version": CAST_VERSION, "names": sorted(self.names)}, indent=0)


def load_cast(folder: Path) -> Cast | None:
    """The cast list shipped in a model folder; None when the folder has none.

    Raises:
        CastError: the file is there but is not a cast list (the message says why).
    """
    path = Path(folder) / CAST_FILE
    names = read_model_list(path, CAST_VERSION, "names", "cast list", CastError)
    if names is None:
        return None
    if not all(
        isinstance(name, str) and 0 < len(name) <= 40 and name[:1].isupper() for name in names
    ):
        raise CastError(f"{path.name}: 'names' must be a list of capitalised names")
    return Cast(frozenset(names))


def facts_text(request: ContentRequest) -> str:
    """Everything the request says is so, as one text (see ``ContentRequest.facts_text``)."""
    return request.facts_text()


def _named(form: str, text: str) -> bool:
    flags = 0 if " " not in form and form[:1].isupper() else re.IGNORECASE
    return re.search(rf"(?<![\w]){re.escape(form)}(?![\w'’])", text, flags) is not None


_MID_SENTENCE = re.compile(r"(?<=[\w,;'’)] )([A-Z][a-z][\w'’-]*)")
_NOT_NAMES = {"I", "I'm", "I'll", "I've", "I'd", "Mr", "Mrs", "Miss", "Sir", "Madam"}


def given_names(request: ContentRequest) -> set[str]:
    """The capitalised words the facts and the recent story give."""
    return set(_CAPITALISED.findall(" ".join((facts_text(request), *request.story))))


def spell_names(text: str, request: ContentRequest) -> str:
    """People's names of more than one word in the world's own spelling: a small
    narrator writes "Teodoro bassi" for Teodoro Bassi. Only names whose every word is
    capitalised and that open with no article: single words may be no name at all
    ("rose", "will"), and "the galley" is rightly lower case in a sentence."""
    for name in {request.speaker, request.subject, *request.entities}:
        words = name.split()
        if len(words) < 2 or words[0] in ("The", "A", "An"):
            continue
        if not all(word[:1].isupper() for word in words):
            continue
        pattern = re.compile(rf"(?<![\w]){re.escape(name)}(?![\w])", re.IGNORECASE)
        text = pattern.sub(name, text)
    return text


def unknown_names(text: str, request: ContentRequest) -> list[str]:
    """Capitalised words inside a sentence of ``text`` that neither the facts nor the
    story give: a name the narrator made up ("Fredrick Coker" for the boatwright)."""
    given = given_names(request) | _NOT_NAMES
    return list(
        dict.fromkeys(
            word
            for word in _MID_SENTENCE.findall(text)
            if re.sub(r"['’]s$", "", word) not in given and word not in given
        )
    )


def foreign_names(request: ContentRequest, cast: Cast | None) -> list[str]:
    """Cast names that neither the facts nor the world's absent names use."""
    if not cast:
        return []
    used = {word for word in re.findall(r"[\w'’-]+", facts_text(request))}
    for name in (*request.absent_people, *request.absent_things):
        used.update(name.split())
    return sorted(cast.names - used)


def _speaker_words(request: ContentRequest) -> set[str]:
    words = re.findall(r"[\w'’-]+", f"{request.speaker} {request.persona}".casefold())
    return set(words) | _PRONOUNS


def other_speakers(request: ContentRequest) -> list[str]:
    """Speech tags that would give a dialogue or quest line to someone present who is not
    its speaker ("says Ferrin" when Tamsin speaks)."""
    if not request.speaker or request.kind.value not in ("dialogue", "quest"):
        return []
    own = _speaker_words(request)
    names: set[str] = set()
    for entity in request.entities:
        for word in _CAPITALISED.findall(entity):
            if len(word) > 2 and word.casefold() not in own:
                names.add(word)
    return [
        phrase
        for name in sorted(names)
        for verb in ("says", "said", "replies", "replied")
        for phrase in (f"{verb} {name}", f"{name} {verb}")
    ]


# What an attempt may never say it did: the engine owns opening, unlocking and breaking
# (a blind read caught "You push the glass door open with your hand." on an attempt).
DEEDS = (
    "open",
    "opens",
    "opened",
    "unlock",
    "unlocks",
    "unlocked",
    "breaks",
    "broke",
    "shatters",
    "shattered",
)


def barred_deeds(request: ContentRequest) -> list[str]:
    """The deeds an attempt's line may not write: those its facts do not use ("the
    door stands open" in a room's text leaves "open" free)."""
    if not request.attempt:
        return []
    said = set(re.findall(r"[\w'’-]+", facts_text(request).casefold()))
    return [word for word in DEEDS if word not in said]


# Taking is the engine's too: read blind, "lift the jewel case" was answered "You pick up
# the case and lift it from the berth." and "You take the case with your hands.", and the
# case stayed on the table.
TAKINGS = (
    "take",
    "takes",
    "took",
    "pick up",
    "picks up",
    "picked up",
    "grab",
    "grabs",
    "grabbed",
    "snatch",
    "snatches",
    "snatched",
)


def barred_takings(request: ContentRequest) -> list[str]:
    """What an attempt's line may not say it took: each thing or person in view, by its
    name and by its last word ("take the case" for the jewel case), after any of
    ``TAKINGS`` and "the", "a"/"an", "your" or nothing."""
    if not request.attempt:
        return []
    names = {
        form
        for entity in request.entities
        if entity.strip()
        for form in (entity.strip().casefold(), entity.split()[-1].casefold())
        if len(form) > 2
    }
    phrases = []
    for name in sorted(names):
        forms = (
            f"the {name}",
            ("an " if name[0] in "aeiou" else "a ") + name,
            f"your {name}",
            name,
        )
        phrases += [f"{verb} {form}" for verb in TAKINGS for form in forms]
    return phrases


def barred_words(request: ContentRequest, cast: Cast | None = None) -> list[str]:
    """Everything the line must not write: compass points that are not a way out (see
    above), the world's people, things and places that the facts leave out, the training
    books' names that this world does not use, speech tags that give the line to
    someone other than its speaker, and an attempt's deeds and takings."""
    words = _barred_directions(request)
    words += [*request.absent_people, *request.absent_things]
    words += foreign_names(request, cast)
    words += other_speakers(request)
    words += barred_deeds(request)
    words += barred_takings(request)
    return list(dict.fromkeys(words))


def wrong_speakers(text: str, request: ContentRequest) -> list[str]:
    """The speech tags of a dialogue or quest line that name someone other than its
    speaker ("said the abbot" for Sister Clare)."""
    if not request.speaker or request.kind.value not in ("dialogue", "quest"):
        return []
    own = _speaker_words(request)
    found: list[str] = []
    for match in _TAG_AFTER.finditer(text):
        words = [w for w in match.groups() if w]
        # "whispers the wind": weather and sound are nobody (a colour line after speech).
        if match.group(1) and match.group(1).casefold() in AMBIENT:
            continue
        if not any(word.casefold() in own for word in words):
            found.append(match.group(0))
    for match in _TAG_BEFORE.finditer(text):
        if match.group(1) and match.group(1).casefold() in AMBIENT:
            continue
        word = match.group(1) or match.group(2)
        if word.casefold() not in own:
            found.append(match.group(0))
    return found


def contradictions(
    text: str, request: ContentRequest, cast: Cast | None = None
) -> list[Contradiction]:
    """What ``text`` gets wrong against its request: false exits, absent people, absent
    things and places, names from the training books, names nobody gave, the wrong
    speaker, and a deed an attempt cannot have done (``DEEDS``, ``TAKINGS``).

    Args:
        text: the line as shown (or the words the model added to an opening).
        request: the request with its facts and the world's absent names.
        cast: the narrator's cast list, when it has one.

    Returns:
        One entry per fault, in the order above; empty when the line holds.
    """
    found = [Contradiction(Kind.FALSE_EXIT, word) for word in false_directions(text, request)]
    found += [
        Contradiction(Kind.ABSENT_PERSON, name)
        for name in request.absent_people
        if _named(name, text)
    ]
    found += [
        Contradiction(Kind.ABSENT_THING, name)
        for name in request.absent_things
        if _named(name, text)
    ]
    named = {c.words for c in found}
    if cast:
        foreign = set(foreign_names(request, cast))
        for word in dict.fromkeys(_CAPITALISED.findall(text)):
            if word in foreign:
                found.append(Contradiction(Kind.FOREIGN_NAME, word))
                named.add(word)
    found += [
        Contradiction(Kind.UNKNOWN_NAME, word)
        for word in unknown_names(text, request)
        if word not in named and not any(word in name.split() for name in named)
    ]
    found += [Contradiction(Kind.WRONG_SPEAKER, tag) for tag in wrong_speakers(text, request)]
    said = set(re.findall(r"[\w'’-]+", text.casefold()))
    found += [Contradiction(Kind.DEED, word) for word in barred_deeds(request) if word in said]
    found += [
        Contradiction(Kind.DEED, phrase)
        for phrase in barred_takings(request)
        if _named(phrase, text)
    ]
    return found


# -- things: what a line says is there -----------------------------------------------------

# A noun phrase opens with one of these; its head is its last word ("the coal barrow").
_DETERMINERS = frozenset("the a an your its his her their some this that these those".split())
# Words a noun phrase never runs on into: they end it, and are never its head.
_PHRASE_ENDS = frozenset(
    """
    and or but nor so yet for of in on at to from by with without into onto upon over under
    about above below after before between through against among toward towards as than
    like near off out up down away back again then there here where when while if that
    which who whose is are was were be been being has have had do does did will would
    shall should can could may might must not no never very too also only just even still
    seems seem looks look stands stand lies lie hangs hang runs run comes come goes go
    you me him her them it us i we they behind beside inside outside across along around
    beneath beyond within
    """.split()
)
# Things that are anywhere a person can be, or are the player, and words that follow
# "the" without naming a thing ("a pair of horseshoes", "the first", "the weight"): no
# fact need give them. Sounds, weather, the sky, time and stuff are sensory detail,
# which a blind reader does not count against a line (bench.blind's guide); they head
# the phrases of the worlds' own attempt lines that the things guard would most often
# have taken back ("a note", "the tune", "the sun", "a creak", "the wood").
AMBIENT = frozenset(
    """
    air light dark darkness shadow shadows gloom dust floor floors ground wall walls ceiling
    roof corner corners sound sounds noise silence quiet hush echo echoes smell smells scent
    scents wind breeze draught draft cold chill heat warmth damp breath voice moment while
    time way side edge top bottom end middle place room space sky weather rain water
    hand hands finger fingers fingertips palm palms arm arms foot feet toes leg legs knee
    knees head face eyes eye ears ear nose mouth lips throat back shoulder shoulders skin
    heart chest body boots coat sleeve sleeves pocket pockets clothes breathing fingernail
    fingernails nail nails thumb thumbs wrist wrists elbow elbows neck hair brow forehead
    cheek cheeks teeth tongue stomach spine thigh thighs shin shins ankle ankles hip hips
    lap jaw chin heel heels belly ribs lungs pulse
    nothing something anything everything one ones thing things bit little lot
    pair couple few rest half kind sort number weight length width height shape size
    grip hold balance footing turn chance effort strength attempt glance look sight feel
    touch first second third last next other others same own best most least
    whole deal trouble matter point expression colour color word words answer question
    note notes tune song hymn verse chorus prayer creak creaks tick ticks hum groan knock
    sigh whisper clatter boom beat drum thud rattle murmur rustle patter hiss splash drip
    squeak rumble roar howl moan click clink thump bang
    sun sunlight moon moonlight star stars cloud clouds fog mist frost storm haze smoke
    steam glow shade night day morning evening
    inch inches drop drops spot handful breadth minute minutes hour hours year years
    instant hundred dozen
    knuckle knuckles fingertip cuff cuffs collar shirt toe
    wood stone iron glass metal cloth
    """.split()
)
_PHRASE_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*|[^\sA-Za-z]")


def _stem(word: str) -> str:
    """A crude singular: "wolves" -> "wolf", "boxes" -> "box", "lamps" -> "lamp"."""
    for ending, swap in (("ves", "f"), ("ies", "y"), ("ses", "s"), ("es", "e"), ("s", "")):
        if word.endswith(ending) and len(word) > len(ending) + 2:
            return word[: -len(ending)] + swap
    return word


@dataclass(frozen=True)
class Phrase:
    """A noun phrase of a text: its words (lower case, a possessive's "'s" dropped), where
    its first word starts, and whether anything after it ended it (a phrase still being
    written may yet run on)."""

    words: tuple[str, ...]
    start: int
    closed: bool


_POSSESSIVE = re.compile(r"['’]s$")


def phrases_of(text: str) -> list[Phrase]:
    """The text's noun phrases that open with a determiner, in order ("the coal barrow
    will only lean" -> "coal barrow"). A possessive ends its phrase and opens the next:
    "the brass tub's lid" is "brass tub" and "lid", so a made-up lid is seen. Cautious: a
    phrase with no determiner is not seen, and with no tagger a phrase may run on into its
    verb ("book tells"), which is why a phrase counts as given when any word is."""
    phrases: list[Phrase] = []
    words: list[str] = []
    start = 0
    opened = False

    def close(closed: bool) -> None:
        if words:
            phrases.append(Phrase(tuple(words), start, closed))
            words.clear()

    for match in _PHRASE_WORD.finditer(text):
        word = match.group().casefold()
        if opened:
            if word[:1].isalpha() and word not in _PHRASE_ENDS and word not in _DETERMINERS:
                if not words:
                    start = match.start()
                possessive = _POSSESSIVE.search(word)
                words.append(word[: possessive.start()] if possessive else word)
                followed = match.end() < len(text)
                if possessive:
                    # The owner is one thing, what it owns another: go on as after "the".
                    close(followed)
                elif len(words) == 3:
                    close(followed)
                    opened = False
                continue
            close(True)
            opened = False
        opened = word in _DETERMINERS
    close(False)
    return phrases


def noun_phrases(text: str) -> list[str]:
    """The text's noun phrases (``phrases_of``), lower case, in order, each once."""
    return list(dict.fromkeys(" ".join(phrase.words) for phrase in phrases_of(text)))


def known_words(request: ContentRequest) -> frozenset[str]:
    """The words a thing on screen may be called by: every word of the facts (the room and
    its text, what is in view, the command, the world's own text) and of the recent
    story, each also in a crude singular, and what is anywhere a person is (``AMBIENT``)."""
    on_screen = " ".join((facts_text(request), *request.story)).casefold()
    given = re.findall(r"[a-z][a-z'’-]*", on_screen)
    return frozenset({*given, *(_stem(word) for word in given), *AMBIENT})


def is_seen(words: Sequence[str], known: frozenset[str]) -> bool:
    """A phrase names a thing on screen when any of its words is known (or its singular)."""
    return any(word in known or _stem(word) in known for word in words)


def unseen_things(text: str, request: ContentRequest) -> list[str]:
    """The things ``text`` names that nothing on screen gives (``known_words``): a made-up
    room's contents ("the hamper", "the book" in a boiler house) show up here, where no
    name guard sees them."""
    known = known_words(request)
    return [phrase for phrase in noun_phrases(text) if not is_seen(phrase.split(), known)]
