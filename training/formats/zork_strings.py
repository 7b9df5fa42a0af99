"""``zork-strings``: string literals from Zork's ZIL sources, one per blank-line paragraph.

``|`` is ZIL's line break and is read as a space. Strings that start in lower case or
stop without a sentence end are fragments the game joins with object names at run time
("You suddenly notice that the"), so they are dropped.
"""

from __future__ import annotations

import re
from pathlib import Path

from training.config import CorpusConfig, Source
from training.formats.extraction import Extraction, add_text, fixed_tag
from training.formats.novel import paragraphs

_SENTENCE_END = re.compile(r"[.!?][\"')]*$")


def extract_zork_strings(text: str, path: Path, source: Source, corpus: CorpusConfig) -> Extraction:
    """Each complete string, tagged quest (or the source's tag)."""
    result = Extraction()
    tag = fixed_tag(source)
    for first, block in paragraphs(text.split("\n")):
        joined = " ".join(line.strip() for line in block).replace("|", " ").strip()
        if not joined[:1].isupper() and joined[:1] not in "\"'":
            result.dropped["fragment (starts in lower case)"] += 1
            continue
        if not _SENTENCE_END.search(joined):
            result.dropped["fragment (no sentence end)"] += 1
            continue
        add_text(result, joined, first, tag, source, corpus)
    return result
