"""Grounding on held-out prompts: does the model write about what it is given?

Two figures over a set of generations, each made from a test prompt (facts, story and an
opening) and scored on the words the model ADDED after the opening:

- ``entity_share``: of the prompt's entities (the head nouns of ``things``, ``describe`` and
  ``about``, and the speaker's name), the share named in the added words. Pooled over all
  generations: named entities / prompt entities.
- ``hallucination_rate``: of the nouns in the added words (``training.grounding.nouns``),
  the share that are neither words of the prompt nor common words. Pooled: invented nouns /
  nouns. The common words are the ``COMMON_WORDS`` most frequent words of the train split's
  targets, so "door" or "sea" is never an invention but "persian rug" in a herb garden is.

Words are compared after ``word_key`` (lower case, possessive and plural -s off), so
"lanterns" names "the lantern". Pure Python; nothing here loads a model.

Example::

    common = common_words(train_lines)
    scores = grounding_scores([Generation(facts, prompt, "You", " see the lantern.")], common)
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from textgamegen.text.layout import FACT_KEYS, split_training_line
from training.grounding import nouns, tagger_name

COMMON_WORDS = 2000
"""How many of the train split's most frequent words count as common."""

# The facts line is the prompt's last segment: ``<|tag|> [facts] <|endoftext|>``.
_FACTS = re.compile(r"<\|[a-z]+\|> \[([^\[\]]*)\] <\|endoftext\|>\s*$")
_WORDS = re.compile(r"[A-Za-z][A-Za-z'-]*")
_ARTICLES = frozenset("the a an his her their its my your our this that these those some".split())


def word_key(word: str) -> str:
    """A word as compared: lower case, without a possessive or a plural -s ("Lanterns'" ->
    "lantern", "boxes" -> "box", "glass" stays)."""
    key = word.lower().strip("'-")
    if key.endswith("'s"):
        key = key[:-2]
    if len(key) > 4 and key.endswith(("ches", "shes", "xes", "sses")):
        key = key[:-2]
    elif len(key) > 3 and key.endswith("s") and not key.endswith("ss"):
        key = key[:-1]
    return key


def words(text: str) -> list[str]:
    return _WORDS.findall(text)


def parse_facts(prompt: str) -> dict[str, str]:
    """The facts of a prompt's last facts line (``[things: the door | speaker: Alice]``),
    as {key: value}; {} when the prompt has none."""
    found = _FACTS.search(prompt)
    if not found:
        return {}
    facts: dict[str, str] = {}
    for part in found.group(1).split("|"):
        key, sep, value = part.partition(":")
        key = key.strip()
        if sep and key in FACT_KEYS and value.strip():
            facts[key] = value.strip()
    return facts


def _head(phrase: str) -> str:
    """The head word of a named thing: the last word ("the old brass lantern" -> "lantern",
    "Tide Caves" -> "caves"), or "" when it is only articles."""
    found = [w for w in words(phrase) if w.lower() not in _ARTICLES]
    return word_key(found[-1]) if found else ""


def prompt_entities(facts: dict[str, str]) -> list[str]:
    """The entities a line should name, as word keys, without repeats: each thing's head
    noun, what it describes, the topic, and the speaker's name (before any persona)."""
    entities: list[str] = []
    for key in ("describe", "things", "about"):
        for phrase in facts.get(key, "").split(","):
            entities.append(_head(phrase))
    who = facts.get("speaker", "").split(",")[0]
    entities.append(_head(who))
    return [e for e in dict.fromkeys(entities) if e]


def common_words(lines: list[str], count: int = COMMON_WORDS) -> frozenset[str]:
    """The ``count`` most frequent word keys of the corpus lines' targets."""
    counter: Counter[str] = Counter()
    for line in lines:
        try:
            _prompt, _tag, target = split_training_line(line)
        except ValueError:
            continue
        counter.update(word_key(w) for w in words(target))
    return frozenset(word for word, _n in counter.most_common(count))


@dataclass
class Generation:
    """One generation from a held-out prompt.

    Attributes:
        facts: the prompt's facts (``parse_facts``).
        prompt: the whole prompt text (story and facts; the words it holds are not invented).
        opening: the words given to the model to start the line.
        added: what the model wrote after the opening.
    """

    facts: dict[str, str]
    prompt: str
    opening: str
    added: str


def grounding_scores(generations: list[Generation], common: frozenset[str]) -> dict:
    """Entity share and hallucination rate over generations (see the module docstring).

    Returns:
        {"entity_share", "entities", "entities_named", "hallucination_rate", "nouns",
        "invented", "invented_examples", "generations", "noun_tagger", "common_words"};
        a share is None when there was nothing to count.
    """
    entities = named = noun_count = invented = 0
    examples: list[str] = []
    for generation in generations:
        added = {word_key(w) for w in words(generation.added)}
        wanted = prompt_entities(generation.facts)
        entities += len(wanted)
        named += sum(1 for entity in wanted if entity in added)
        given = {word_key(w) for w in words(f"{generation.prompt} {generation.opening}")}
        for noun in nouns(generation.added, limit=100):
            noun_count += 1
            key = word_key(noun)
            if key not in given and key not in common:
                invented += 1
                if noun not in examples and len(examples) < 20:
                    examples.append(noun)
    return {
        "entity_share": round(named / entities, 3) if entities else None,
        "entities": entities,
        "entities_named": named,
        "hallucination_rate": round(invented / noun_count, 3) if noun_count else None,
        "nouns": noun_count,
        "invented": invented,
        "invented_examples": examples,
        "generations": len(generations),
        "noun_tagger": tagger_name(),
        "common_words": len(common),
    }
