"""Tell a tab-separated table from prose before a format reads it.

A dialogue export given as ``format = "novel"`` was once read as prose and made hundreds of
junk action lines. A table has a header row of short names and rows with the same number
of tabs; prose has neither.
"""

from __future__ import annotations

MIN_COLUMNS = 3
SAMPLE_ROWS = 50


def looks_like_tsv(text: str) -> str:
    """A short description when ``text`` looks like a tab-separated table with a header
    ("" when it does not), e.g. ``"5 columns: id, type, speaker, text, notes"``."""
    lines = [line for line in text.split("\n") if line.strip()][: SAMPLE_ROWS + 1]
    if len(lines) < 2:
        return ""
    header = [cell.strip() for cell in lines[0].split("\t")]
    if len(header) < MIN_COLUMNS or not all(0 < len(cell) <= 40 for cell in header):
        return ""
    rows = lines[1:]
    shaped = sum(1 for row in rows if row.count("\t") >= MIN_COLUMNS - 1)
    if shaped / len(rows) < 0.6:
        return ""
    return f"{len(header)} columns: {', '.join(header)[:120]}"
