"""``feedback``: what players thought of the narration, from ``textgamegen feedback export``.

Each JSON line holds ``prompt``, ``text`` (as shown), ``label``, ``model``, ``time``,
``kind`` and ``id``. Lines rated good become examples; lines rated bad, retried, cut short
with Esc, undone or written by the fallback are left out and counted by reason in
``stats.json``. A line shown and let stand (label ``kept``) is no rating: it is a weak
signal, trained on only when the source names it (``labels = ["good", "kept"]``). A source
may keep one model's lines (``model``) and one version of it (``model_version``: the
registered version, or the weights' sha256 or a prefix of it).

An example is conditioned as the game prompted it: its tag is the one the prompt ends with
(``<|dialogue|> The miller says, "``), and its text, which starts with the prompt's
opening, is what the model writes after that tag. In a conditioned corpus
(``[corpus] conditioned = true``) a prompt in the game's facts layout
(``textgamegen.text.layout``) comes along whole: its story lines and facts line
become the example's story and facts, so the training line is that very prompt followed by
the text the player liked. A prompt in another layout, or a plain corpus, gives a plain
line (which a conditioned corpus then grounds like any other sentence).

A fifth of the lines rated good (at least one, when there are two or more) is held out of
the corpus: the pipeline's gate checks that a retrained model is not worse on them than
the model it replaces (``training/heldout.py``). Which lines are held out depends only on
their prompt and text, so reruns and new exports hold out the same lines.

Example config::

    [[corpus.sources]]
    name = "player-feedback"
    path = "feedback.jsonl"
    format = "feedback"
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from pathlib import Path

from textgamegen.text.layout import FACT_KEYS
from training import TAGS
from training.config import CorpusConfig, Source
from training.formats.extraction import Example, Extraction, add_text
from training.textfile import CorpusError

EXCLUDED_REASONS = {
    "bad": "rated bad",
    "retried": "retried",
    "cancelled": "cancelled with Esc",
    "undone": "undone",
    "fallback": "fallback text",
    "kept": "kept, not rated (not in the source's labels)",
}
OTHER_MODEL = "another model or version"
HELD_OUT_SHARE = 0.2
HELD_OUT = "held out (good, for the gate)"
KIND_TAGS = {"action": "action", "item": "action", "dialogue": "dialogue", "quest": "quest"}
_LAST_TAG = re.compile(r"<\|({})\|>(?!.*<\|)".format("|".join(TAGS)), re.DOTALL)
_SEGMENT = re.compile(
    r"<\|(?:{})\|> ((?:(?!<\|).)*?) <\|endoftext\|>".format("|".join(TAGS)), re.DOTALL
)
_FACTS = re.compile(r"^\[(.*)\]$", re.DOTALL)


def read_rows(text: str, path: Path) -> list[tuple[int, dict]]:
    """The file's JSON objects with their 1-based line numbers.

    Raises:
        CorpusError: a line that is not a JSON object with a string ``text`` and ``label``.
    """
    rows = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise CorpusError(f"{path}: line {number}: not JSON ({error.msg})") from None
        if (
            not isinstance(row, dict)
            or not isinstance(row.get("text"), str)
            or not isinstance(row.get("label"), str)
        ):
            raise CorpusError(
                f'{path}: line {number}: not a feedback line (needs "text" and '
                '"label"; write it with `textgamegen feedback export`)'
            )
        rows.append((number, row))
    return rows


def of_source(row: dict, source: Source) -> bool:
    """Whether a row is of the model and version the source keeps."""
    if source.model and row.get("model") != source.model:
        return False
    version = source.model_version
    return not version or (
        row.get("model_version") == version
        or str(row.get("model_sha256") or "").startswith(version)
    )


def source_rows(text: str, path: Path, source: Source) -> list[tuple[int, dict]]:
    """The file's rows of the source's model and version, with their line numbers."""
    return [(number, row) for number, row in read_rows(text, path) if of_source(row, source)]


def tag_of(row: dict) -> str:
    """The tag the prompt ends with, else the one for the narration's kind."""
    match = _LAST_TAG.search(str(row.get("prompt") or ""))
    if match:
        return match.group(1)
    return KIND_TAGS.get(str(row.get("kind", "")), "action")


def prompt_layout(prompt: str) -> tuple[dict[str, str], tuple[str, ...]] | None:
    """(facts, story) of a prompt in the game's facts layout, or None for another layout.

    The prompt's tagged lines before its last tag are the story, and the bracketed one is
    the facts line (``[place: Harbour Quay | things: the rope]``).
    """
    last = prompt.rfind("<|")
    facts: dict[str, str] | None = None
    story: list[str] = []
    for body in _SEGMENT.findall(prompt[: max(last, 0)]):
        match = _FACTS.match(body.strip())
        if match is None:
            story.append(body.strip())
            continue
        facts = {}
        for part in match.group(1).split("|"):
            key, _, value = part.partition(":")
            if key.strip() in FACT_KEYS and value.strip():
                facts[key.strip()] = value.strip()
    return (facts, tuple(story)) if facts is not None else None


def _order_key(number: int, row: dict) -> str:
    # The text and prompt, not the row's id or place: the same lines stay held out when the
    # feedback is exported again, merged from several players, or reordered.
    ident = f"{row.get('prompt', '')}\n{row.get('text', '')}"
    return hashlib.sha256(ident.encode()).hexdigest()


def _usable(row: dict, number: int, source: Source, corpus: CorpusConfig) -> Extraction:
    """The row's text as corpus examples, tidied and filtered like every other source, and
    conditioned on its prompt in a conditioned corpus."""
    result = Extraction()
    add_text(result, row["text"], number, tag_of(row), source, corpus)
    layout = prompt_layout(str(row.get("prompt") or "")) if corpus.conditioned else None
    if layout is not None:
        for example in result.examples:
            example.facts, example.story = dict(layout[0]), layout[1]
    return result


def held_out_numbers(
    rows: list[tuple[int, dict]], source: Source, corpus: CorpusConfig
) -> set[int]:
    """Line numbers of the good lines kept out of the corpus for the gate: a fifth of the
    good lines that make usable corpus text (at least one when there are two or more)."""
    good = [
        (number, row)
        for number, row in rows
        if row.get("label") == "good" and _usable(row, number, source, corpus).examples
    ]
    if len(good) < 2:
        return set()
    count = max(1, math.floor(len(good) * HELD_OUT_SHARE))
    ordered = sorted(good, key=lambda item: _order_key(*item))
    return {number for number, _ in ordered[:count]}


def extract_feedback(text: str, path: Path, source: Source, corpus: CorpusConfig) -> Extraction:
    """The lines of the source's labels as tagged examples; the rest counted by reason."""
    result = Extraction()
    rows = read_rows(text, path)
    chosen = [(number, row) for number, row in rows if of_source(row, source)]
    if len(chosen) < len(rows):
        result.dropped[OTHER_MODEL] += len(rows) - len(chosen)
    held = held_out_numbers(chosen, source, corpus)
    for number, row in chosen:
        label = row["label"]
        if label not in source.labels:
            result.dropped[EXCLUDED_REASONS.get(label, f"label {label}")] += 1
            continue
        if number in held:
            result.dropped[HELD_OUT] += 1
            continue
        usable = _usable(row, number, source, corpus)
        result.examples += usable.examples
        result.dropped.update(usable.dropped)
    return result


def held_out_examples(text: str, path: Path, source: Source, corpus: CorpusConfig) -> list[Example]:
    """The held-out good lines of one file, as corpus examples."""
    rows = source_rows(text, path, source)
    held = held_out_numbers(rows, source, corpus)
    return [
        example
        for number, row in rows
        if number in held
        for example in _usable(row, number, source, corpus).examples
    ]


def label_counts(text: str, path: Path) -> Counter:
    return Counter(row["label"] for _, row in read_rows(text, path))
