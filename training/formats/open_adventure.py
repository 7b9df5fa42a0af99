"""``open-adventure``: the texts of Open Adventure's adventure.yaml.

Room descriptions (long and short), arbitrary messages, object descriptions, state
changes and sounds, hints and obituaries. Messages with printf placeholders (``%d``) are
filled at run time by the game, so they are dropped.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from training.config import CorpusConfig, Source
from training.formats.extraction import Extraction, add_text, fixed_tag
from training.textfile import CorpusError

_PLACEHOLDER = re.compile(r"%[a-zA-Z0-9]")


def _pairs(section: object) -> list[tuple[str, object]]:
    """An ``!!omap`` (a list of pairs in PyYAML), a plain mapping or a list of mappings."""
    if isinstance(section, dict):
        return list(section.items())
    if isinstance(section, list):
        pairs: list[tuple[str, object]] = []
        for item in section:
            if isinstance(item, tuple) and len(item) == 2:
                pairs.append((str(item[0]), item[1]))
            elif isinstance(item, dict):
                pairs.extend((str(k), v) for k, v in item.items())
        return pairs
    return []


def _strings(value: object) -> list[str]:
    """Every string inside a value (lists and mappings walked in order)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    return []


def game_texts(data: dict) -> list[str]:
    """The player-facing texts of a parsed adventure.yaml, in file order."""
    texts: list[str] = []
    for _, location in _pairs(data.get("locations")):
        if isinstance(location, dict):
            texts += _strings(location.get("description"))
    for _, message in _pairs(data.get("arbitrary_messages")):
        texts += _strings(message)
    for _, thing in _pairs(data.get("objects")):
        if isinstance(thing, dict):
            for key in ("descriptions", "changes", "sounds", "texts"):
                texts += _strings(thing.get(key))
    for hint in data.get("hints") or []:
        if isinstance(hint, dict):
            hint = hint.get("hint", hint)
            if isinstance(hint, dict):
                texts += _strings(hint.get("question")) + _strings(hint.get("hint"))
    for obituary in data.get("obituaries") or []:
        texts += _strings(obituary)
    return texts


def extract_open_adventure(
    text: str, path: Path, source: Source, corpus: CorpusConfig
) -> Extraction:
    """The game's texts, tagged quest (or the source's tag)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise CorpusError(
            f"{path}: {where}not valid YAML: {getattr(error, 'problem', error)}"
        ) from None
    if not isinstance(data, dict):
        raise CorpusError(f"{path}: no usable text (not an adventure.yaml mapping)")
    result = Extraction()
    tag = fixed_tag(source)
    lines = text.split("\n")
    for value in game_texts(data):
        if _PLACEHOLDER.search(value):
            result.dropped["run-time placeholder (%d)"] += 1
            continue
        # Where the text sits in the file, for messages and stats; 0 when not found.
        probe = value.split("\n", 1)[0].strip()[:40]
        line = next((n for n, raw in enumerate(lines, 1) if probe and probe in raw), 0)
        add_text(result, value.replace("\\t", " "), line, tag, source, corpus)
    return result
