"""``transcript``: game transcripts, ``> command`` lines followed by narration.

Each narration paragraph (blank-line separated, between commands) becomes one line, tagged
quest by default or action/dialogue by the source's ``tag``. The commands themselves are
the player's words, not narration, and are left out.
"""

from __future__ import annotations

from pathlib import Path

from training.config import CorpusConfig, Source
from training.formats.extraction import Extraction, add_text, fixed_tag


def extract_transcript(text: str, path: Path, source: Source, corpus: CorpusConfig) -> Extraction:
    """Narration paragraphs between the ``>`` command lines."""
    result = Extraction()
    tag = fixed_tag(source)
    current: list[str] = []
    start = 1
    command = ""

    def flush() -> None:
        if current:
            before = len(result.examples)
            add_text(result, " ".join(current), start, tag, source, corpus)
            for example in result.examples[before:]:
                example.command = command
            current.clear()

    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if stripped.startswith(">"):
            flush()
            command = stripped.lstrip(">").strip()
            result.dropped["command line"] += 1
        elif not stripped:
            flush()
        else:
            if not current:
                start = number
            current.append(stripped)
    flush()
    return result
