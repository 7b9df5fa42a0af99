"""``novel``: Project Gutenberg prose -> one sentence per line, dialogue or action.

Cleaning, in order:

1. Cut the Gutenberg header and footer (``*** START OF ...`` / ``*** END OF ...``).
2. Drop ``[Illustration]`` markers (also multi-line ``[Illustration: ...]``), chapter
   headings, ``* * *`` separators, and short lines repeated 3+ times (running heads).
3. Split into paragraphs at blank lines; drop paragraphs that are tables of contents or
   verse (mostly indented lines), all-capital titles, and short lines without a sentence end.
4. Remove ``_italic_`` underscores and ``[12]`` footnote marks, join wrapped lines.
5. Split each paragraph into sentences; a sentence with quoted speech becomes dialogue.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from training.config import CorpusConfig, Source
from training.formats.extraction import (
    Example,
    Extraction,
    has_quoted_speech,
    rejection,
    tidy,
)
from training.sentences import split_sentences

_START = re.compile(r"^\s*\*\*\*\s*START OF (THE|THIS) PROJECT GUTENBERG", re.IGNORECASE)
_END = re.compile(
    r"^\s*(\*\*\*\s*END OF (THE|THIS) PROJECT GUTENBERG"
    r"|End of (the )?Project Gutenberg)",
    re.IGNORECASE,
)
_ROMAN = r"[IVXLCDM]+"
_HEADING = re.compile(
    rf"^\s*((CHAPTER|Chapter|BOOK|Book|PART|Part|STAVE|VOLUME|Volume)\s+({_ROMAN}|\d+|[A-Z]+)\b"
    rf".*|{_ROMAN}\.?|\d+\.?|(THE )?END\.?|CONTENTS:?|Contents:?|INDEX)\s*$"
)
_SEPARATOR = re.compile(r"^\s*([*.\-=_~]\s*){3,}$")
_DOT_LEADER = re.compile(r"(\.\s){3,}|\.{4,}")
_FOOTNOTE = re.compile(r"\[\d+\]|\{\d+\}")
_SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*$")
_TRANSCRIBER = re.compile(r"^\s*\[?(Transcriber|Produced by|E-?text prepared)", re.IGNORECASE)


def strip_gutenberg(lines: list[str]) -> tuple[int, list[str]]:
    """The lines between the Gutenberg header and footer (all when absent), and the index
    of the first one."""
    start, end = 0, len(lines)
    for number, line in enumerate(lines):
        if _START.match(line):
            start = number + 1
            break
    for number in range(start, len(lines)):
        if _END.match(lines[number]):
            end = number
            break
    return start, lines[start:end]


def _drop_markers(lines: list[str], dropped: Counter) -> list[str]:
    """Blank out illustration markers, headings, separators and running heads."""
    counts = Counter(line.strip() for line in lines if line.strip())
    kept: list[str] = []
    in_illustration = False
    for line in lines:
        stripped = line.strip()
        if in_illustration or stripped.startswith("[Illustration"):
            in_illustration = not stripped.endswith("]")
            dropped["illustration marker"] += 1
            kept.append("")
        elif _HEADING.match(line) or _TRANSCRIBER.match(line):
            dropped["heading"] += 1
            kept.append("")
        elif _SEPARATOR.match(line) or _DOT_LEADER.search(line):
            dropped["separator or contents line"] += 1
            kept.append("")
        elif counts[stripped] >= 3 and len(stripped) < 60 and not _SENTENCE_END.search(stripped):
            dropped["repeated line"] += 1
            kept.append("")
        else:
            kept.append(line)
    return kept


def paragraphs(lines: list[str], first_line: int = 1) -> list[tuple[int, list[str]]]:
    """Blank-line separated blocks, each with the number of its first line."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = first_line
    for number, line in enumerate(lines, start=first_line):
        if line.strip():
            if not current:
                start = number
            current.append(line)
        elif current:
            blocks.append((start, current))
            current = []
    if current:
        blocks.append((start, current))
    return blocks


def _paragraph_rejection(block: list[str]) -> str | None:
    indented = sum(1 for line in block if line[:2].isspace() or line.startswith("\t"))
    if indented * 2 > len(block):
        return "indented block (contents, verse or letter)"
    text = " ".join(line.strip() for line in block)
    if not re.search(r"[a-z]", text):
        return "no lower-case letters (heading or code)"
    if len(block) <= 2 and not _SENTENCE_END.search(text) and len(text.split()) < 12:
        return "title or caption"
    return None


def extract_novel(text: str, path: Path, source: Source, corpus: CorpusConfig) -> Extraction:
    """Sentences of a novel, tagged dialogue (quoted speech) or action."""
    result = Extraction()
    all_lines = text.split("\n")
    start, body = strip_gutenberg(all_lines)
    body = _drop_markers(body, result.dropped)
    min_words = source.min_words or corpus.min_words
    for first, block in paragraphs(body, start + 1):
        reason = _paragraph_rejection(block)
        if reason:
            result.dropped[reason] += 1
            continue
        joined = " ".join(line.strip() for line in block)
        joined = _FOOTNOTE.sub("", joined.replace("_", ""))
        for sentence in split_sentences(re.sub(r"\s+", " ", joined), corpus.sentence_splitter):
            if source.tag == "auto":
                tag = "dialogue" if has_quoted_speech(sentence) else "action"
            else:
                tag = source.tag
            sentence = tidy(sentence, corpus)
            reason = rejection(sentence, min_words, corpus.max_words)
            if reason:
                result.dropped[reason] += 1
            else:
                result.examples.append(Example(sentence, tag, first))
    return result
