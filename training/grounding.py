"""Conditioned examples: each sentence gets the facts it can be predicted from.

A language model fine-tuned on bare sentences learns a style; the game needs a narrator that
writes about *what it is given*. So every corpus sentence becomes a training pair in the
game's own prompt layout (``textgamegen.text.layout``): the sentence before it as the
story, a facts line with the sentence's own nouns as ``things`` (and, for speech, its
speaker), and the sentence as the target. Since the things are taken from the target, they
are predictable from the prompt, which is what teaches the model to name them.

Nouns come from the finder the config names (``[corpus] noun_tagger``): ``chunker``, a
determiner-phrase chunker needing no data (the head word of "the old brass lantern" is
"lantern"; deliberately cautious, a missed noun only makes a shorter facts line), or
``nltk``, NLTK's part-of-speech tagger, whose model (``averaged_perceptron_tagger_eng``)
must then be in NLTK_DATA (``../shared/corpora`` carries only punkt_tab). Never the
machine's choice: the facts lines, and so the corpus, would differ with it.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from functools import lru_cache

from training.textfile import CorpusError

DETERMINERS = frozenset(
    "the a an his her their its my your our this that these those some every each".split()
)
# Words that end a noun phrase: they are never its head.
_STOP = frozenset(
    """
    and or but nor so yet for of in on at to from by with without into onto upon over under
    about above below after before between through during against among toward towards as
    than like near off out up down away back again then there here where when while if
    was were is are be been being had has have do did does will would shall should can could
    may might must not no never very too also only just even still ever quite rather
    he she it they we i you him them us me who whom which what whose that this these those
    said asked cried replied answered say says went came looked seemed stood lay sat began
    one all both each every any some more most other such own same
    lit took saw went made got gave found knew thought told felt left kept held brought ran
    rose fell threw drew grew led met paid put read sent set shut spoke struck tore wore won
    wrote broke chose drove froze hid rode sang sank slept spent stole stuck swung taught
    woke heard meant caught fought sought bought turned became blew flew shone hung
    """.split()
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*|[^\sA-Za-z]")
COMMON_NOUNS = frozenset(
    """
    man men woman women thing things time way day days night nothing something anything
    everything one ones moment place side part kind sort end head hand hands eyes eye face
    voice word words sir madam lady lord king queen boy girl child children people
    """.split()
)

SPEECH_VERBS = (
    "said|says|asked|cried|replied|answered|shouted|whispered|exclaimed|called|continued|"
    "added|remarked|muttered|began|repeated|roared|sighed|laughed|observed|returned|insisted"
)
_NAME = r"(?:the |The )?(?:[A-Z][a-z]+(?: [A-Z][a-z]+)?|(?<=the )[a-z]+(?: [a-z]+)?)"
_AFTER = re.compile(
    rf"\b(?:{SPEECH_VERBS}) ((?:the )?[A-Z][a-z]+(?: [A-Z][a-z]+)?|the [a-z]+(?: [a-z]+)?)"
)
_BEFORE = re.compile(rf"((?:[Tt]he )?[A-Z][a-z]+(?: [A-Z][a-z]+)?|the [a-z]+) (?:{SPEECH_VERBS})\b")
_PRONOUNS = frozenset("he she i it they we you his her its their one this that there".split())
_QUESTY = re.compile(
    r"\byou (?:must|shall|will|should|have to|need to|are to)\b|\b(?:bring|find|fetch|seek|"
    r"go to|take this|take it|return with|do not fail)\b",
    re.IGNORECASE,
)
_QUOTED = re.compile(r'"([^"]+)"')
_FIRST_PERSON = re.compile(r"\b(?:I|me|my|mine|myself|we|us|our|ours)\b")


def first_person(sentence: str) -> bool:
    """Narration in the first person ("I rose and looked around me"): the game's narrator
    speaks to "you", so such lines teach the wrong voice (speech inside quotes is fine)."""
    return bool(_FIRST_PERSON.search(_QUOTED.sub(" ", sentence)))


def described_thing(sentence: str, names: list[str]) -> str:
    """The thing a sentence is about when it opens with it ("The old mill stood ..." ->
    "the old mill"), if its head is the sentence's first noun; else ""."""
    opening = sentence.split()[:5]
    if not names or not opening or opening[0] not in ("The", "A", "An"):
        return ""
    for index in range(1, len(opening)):
        word = opening[index].strip(",.;:!?'\"").lower()
        if word == names[0]:
            return "the " + " ".join(w.strip(",.;:!?'\"").lower() for w in opening[1 : index + 1])
        if not word.isalpha():
            return ""
    return ""


TAGGERS = ("chunker", "nltk")
"""The noun finders a corpus may name (``[corpus] noun_tagger``)."""


@lru_cache(maxsize=1)
def _nltk_tagger():
    """NLTK's pos_tag, asked for by name.

    Raises:
        CorpusError: its tagger model is not installed (no silent fallback: the facts
            lines, and so the corpus, would differ from machine to machine).
    """
    try:
        import nltk

        nltk.pos_tag(["The", "door"])
    except (ImportError, LookupError, OSError):
        raise CorpusError(
            '[corpus] noun_tagger = "nltk" needs NLTK\'s tagger model, which is not found '
            "here: set NLTK_DATA to a folder holding taggers/averaged_perceptron_tagger_eng, "
            'or use noun_tagger = "chunker"'
        ) from None
    return nltk.pos_tag


def tagger_name(tagger: str = "chunker") -> str:
    """How stats and metrics name a noun finder."""
    return "nltk-pos_tag" if tagger == "nltk" else "determiner-chunker"


def nouns(sentence: str, limit: int = 4, tagger: str = "chunker") -> list[str]:
    """The sentence's common nouns, in order, without repeats ("lantern", "door").

    Args:
        sentence: the text.
        limit: at most this many.
        tagger: ``chunker`` (the nouns of determiner phrases; no data, the same
            everywhere) or ``nltk`` (NLTK's part-of-speech tagger; needs its model).
    """
    words = _WORD.findall(sentence)
    found: list[str] = []
    if tagger == "nltk":
        for word, pos in _nltk_tagger()(words):
            if pos in ("NN", "NNS") and word.isalpha() and len(word) > 2:
                found.append(word.lower())
    else:
        index = 0
        while index < len(words):
            if words[index].lower() in DETERMINERS:
                phrase: list[str] = []
                index += 1
                while index < len(words) and len(phrase) < 4:
                    word = words[index]
                    lower = word.lower()
                    if not word[0].isalpha() or lower in _STOP or lower in DETERMINERS:
                        break
                    if phrase and (lower.endswith(("ly", "ed")) and not lower.endswith("eed")):
                        break
                    if word[0].isupper():  # a proper name: the speaker pass handles those
                        phrase = []
                        break
                    phrase.append(lower)
                    index += 1
                if phrase and len(phrase[-1]) > 2 and not phrase[-1].endswith(("ly", "ing")):
                    found.append(phrase[-1])
                continue
            index += 1
    unique = [noun for noun in dict.fromkeys(found) if noun not in _STOP]
    return unique[:limit]


def speaker(sentence: str, neighbours: tuple[str, ...] = ()) -> str:
    """Who speaks in a line of quoted speech ("Alice", "the Hatter"), or ""."""
    for text in (sentence, *neighbours):
        outside = _QUOTED.sub(" ", text)
        for pattern in (_AFTER, _BEFORE):
            for match in pattern.finditer(outside):
                name = match.group(1).strip()
                if name.lower() in _PRONOUNS or name.lower().split()[-1] in _PRONOUNS:
                    continue
                if name.startswith("The "):
                    name = "the " + name[4:]
                return name
    return ""


def is_quest_talk(sentence: str) -> bool:
    """Speech that sets the listener a task ("You must find the ring")."""
    spoken = " ".join(_QUOTED.findall(sentence))
    return bool(spoken) and bool(_QUESTY.search(spoken))


def things_text(names: list[str]) -> str:
    return ", ".join(f"the {name}" for name in names)


def condition(
    texts: list[tuple[str, str]],
    rng: random.Random,
    counts: Counter,
    story_words: int = 30,
    tagger: str = "chunker",
) -> list[tuple[str, dict[str, str], tuple[str, ...]]]:
    """Facts and story for each (text, tag) of one file, in file order.

    Args:
        texts: the file's sentences with their tags, in order.
        rng: decides, per sentence, whether the story line is kept (about 2 in 3, so the
            model also learns to write with no story).
        counts: gets "with_things", "with_speaker", "retagged_quest" and "no_facts".
        story_words: a story line longer than this is left out (prompt length is
            training time on two cores).
        tagger: the noun finder (``nouns``).

    Returns:
        (tag, facts, story) per sentence; ``None`` for a sentence to leave out (first-
        person narration).
    """
    out: list = []
    for index, (text, tag) in enumerate(texts):
        if tag != "dialogue" and first_person(text):
            counts["first-person narration left out"] += 1
            out.append(None)
            continue
        previous = texts[index - 1][0] if index else ""
        following = texts[index + 1][0] if index + 1 < len(texts) else ""
        facts: dict[str, str] = {}
        spoken = tag == "dialogue"
        outside = _QUOTED.sub(" ", text) if spoken else text
        names = nouns(outside if spoken and outside.strip() else text, tagger=tagger)
        if spoken:
            who = speaker(text, (previous, following))
            if who:
                facts["speaker"] = who
                counts["with_speaker"] += 1
            topic = nouns(" ".join(_QUOTED.findall(text)), limit=1, tagger=tagger)
            if topic:
                facts["about"] = f"the {topic[0]}"
            if is_quest_talk(text):
                tag = "quest"
                counts["retagged_quest"] += 1
        described = "" if spoken else described_thing(text, names)
        if described and rng.random() < 0.6:
            # Descriptions: "describe: the old mill" and a line that opens with it.
            facts["describe"] = described
            names = names[1:]
            counts["with_describe"] += 1
        if names:
            facts["things"] = things_text(names)
            counts["with_things"] += 1
        if not facts:
            counts["no_facts"] += 1
        story: tuple[str, ...] = ()
        if previous and len(previous.split()) <= story_words and rng.random() < 0.67:
            story = (previous,)
        out.append((tag, facts, story))
    return out
