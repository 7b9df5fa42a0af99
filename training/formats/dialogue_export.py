"""``dialogue-export``: a tab-separated game dialogue export -> one quest line per row.

Like a Creation Kit export: a header row names the columns (ID, type, topic, speaker,
text...); the text column is picked by its header name (``text_column``, any case). Rows
with fewer columns than the header, or with empty text, are skipped, counted, and the
first ``MAX_BROKEN_NAMED`` named by file and line (in ``stats.json`` and the output).
"""

from __future__ import annotations

from pathlib import Path

from training.config import CorpusConfig, Source
from training.formats.extraction import MAX_BROKEN_NAMED, Extraction, add_text, fixed_tag
from training.textfile import CorpusError


def extract_dialogue_export(
    text: str, path: Path, source: Source, corpus: CorpusConfig
) -> Extraction:
    """The text column of each row, tagged quest (or the source's tag)."""
    result = Extraction()
    lines = text.split("\n")
    header_number = next((n for n, line in enumerate(lines) if line.strip()), None)
    if header_number is None:
        raise CorpusError(f"{path}: no usable text (the file is empty)")
    header = [name.strip().lower() for name in lines[header_number].split("\t")]
    wanted = source.text_column.strip().lower()
    if wanted not in header:
        raise CorpusError(
            f"{path}: line {header_number + 1}: no column named "
            f"{source.text_column!r} in the header ({', '.join(header)}); "
            f"set the source's text_column"
        )
    column = header.index(wanted)
    tag = fixed_tag(source)
    for number in range(header_number + 1, len(lines)):
        line = lines[number]
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) < len(header):
            result.dropped["row with missing columns"] += 1
            _name_broken(result, path, number + 1, f"{len(cells)} of {len(header)} columns")
            continue
        value = cells[column].strip().strip('"').strip()
        if not value:
            result.dropped["row with empty text"] += 1
            _name_broken(result, path, number + 1, f"empty {source.text_column!r} column")
            continue
        add_text(result, value, number + 1, tag, source, corpus)
    return result


def _name_broken(result: Extraction, path: Path, line: int, problem: str) -> None:
    if len(result.broken) < MAX_BROKEN_NAMED:
        result.broken.append(f"{path}:{line}: {problem}")
