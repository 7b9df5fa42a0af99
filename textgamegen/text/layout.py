"""The layout of a conditioned example: recent story, a facts line, then the line to write.

The model is trained on exactly the layout the game prompts it with, so what it learns to
do with the facts (name the things it is given, speak as the given speaker) is what it does
in play::

    <|action|> The wind rose over the harbour. <|endoftext|>        (recent story)
    <|action|> [place: Harbour Quay | things: the rope, the gull] <|endoftext|>   (facts)
    <|action|> You try to wave at the fleet, but                     (opening; the model goes on)

A training line is the same prompt followed by the target and ``<|endoftext|>``; the loss
is taken on the target only. The facts line is bracketed so that it never reads as story.
Pure Python: the game's prompts and the training corpus both build their text here.
"""

from __future__ import annotations

import re

from textgamegen.text.tags import END, tag_token, tagged_line

FACT_KEYS = ("describe", "place", "things", "you", "speaker", "about", "known", "tone")
"""The facts a line can be conditioned on, in the order they are written:

- describe: what the line describes (an item, a room, a person)
- place: where the player is
- things: the people and things in view, most important first
- you: what the player just tried, as typed
- speaker: who talks (name, then a few words of persona)
- about: the topic asked about, or the quest talked of
- known: authored text the line must agree with (the world's own description)
- tone: how the line should sound (the world's tone and the player's note), when set
"""

_BRACKETS = re.compile(r"[\[\]|]")
_SPACES = re.compile(r"\s+")


def fact_value(text: str) -> str:
    """A value made safe for the facts line: no brackets or bars, one line."""
    return _SPACES.sub(" ", _BRACKETS.sub(" ", text)).strip()


def facts_line(facts: dict[str, str]) -> str:
    """``[place: Harbour Quay | things: the rope]``; empty facts are left out; "" if none."""
    parts = [
        f"{key}: {fact_value(facts[key])}" for key in FACT_KEYS if fact_value(facts.get(key, ""))
    ]
    return f"[{' | '.join(parts)}]" if parts else ""


FACT_LABELS = {
    "describe": "describe",
    "place": "place",
    "things": "in view",
    "you": "you try",
    "speaker": "speaker",
    "about": "about",
    "known": "the world's own text",
    "tone": "how it should sound",
}
"""How the facts are named to an instruct model (the chat prompt), where the training
layout's short keys ("you: wave") would read as an address to it."""


def fact_lines(facts: dict[str, str]) -> list[str]:
    """The facts as ``label: value`` lines for the chat prompt, in ``FACT_KEYS`` order;
    empty facts are left out."""
    return [
        f"{FACT_LABELS[key]}: {fact_value(facts[key])}"
        for key in FACT_KEYS
        if fact_value(facts.get(key, ""))
    ]


def story_tag(line: str) -> str:
    """The tag a story line carries: speech is dialogue, everything else action."""
    return "dialogue" if '"' in line or "\u201c" in line else "action"


def story_lines(story: list[str] | tuple[str, ...]) -> list[str]:
    """The recent story as tagged lines."""
    return [tagged_line(story_tag(line), line) for line in story if line.strip()]


def facts_part(tag: str, facts: dict[str, str]) -> str:
    """The tagged facts line, or "" when there are no facts."""
    line = facts_line(facts)
    return tagged_line(tag, line) if line else ""


def opening_part(tag: str, opening: str = "") -> str:
    """The start of the line the model writes: ``<|tag|> opening`` (or the bare tag)."""
    return f"{tag_token(tag)} {opening}" if opening else tag_token(tag)


def prompt_text(
    tag: str,
    facts: dict[str, str],
    story: list[str] | tuple[str, ...] = (),
    opening: str = "",
) -> str:
    """The whole prompt, story first (see the module docstring)."""
    return "".join([*story_lines(story), facts_part(tag, facts), opening_part(tag, opening)])


def training_line(
    tag: str, facts: dict[str, str], story: list[str] | tuple[str, ...], target: str
) -> str:
    """One corpus line: the prompt (no opening) followed by the target and the end token."""
    return "".join(
        [*story_lines(story), facts_part(tag, facts), f"{tag_token(tag)} {target} {END}"]
    )


_LAST_LINE = re.compile(r"<\|(action|dialogue|quest)\|> ((?:(?!<\|).)*?) <\|endoftext\|>$")


def split_training_line(line: str) -> tuple[str, str, str]:
    """(prompt, tag, target) of a corpus line; the prompt is "" for a plain line.

    Raises:
        ValueError: the line does not end with ``<|tag|> text <|endoftext|>``.
    """
    match = _LAST_LINE.search(line)
    if match is None:
        raise ValueError(f"not a corpus line: {line[:80]!r}")
    return line[: match.start()], match.group(1), match.group(2)
