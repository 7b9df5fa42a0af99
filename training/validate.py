"""Stage 2, validate: a built corpus is well-formed, every split is non-empty, every expected
tag has examples.

Example::

    python -m training corpus CONFIG.toml --out DIR      # validates as it builds
    python -m training corpus CONFIG.toml --check DIR    # re-checks a corpus on disk

Errors name the file and the line (``CorpusError``); input problems (binary, undecodable,
no usable text, ratios not summing to 1) are caught earlier, while reading the sources
and the config.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from training import EOS, TAGS
from training.textfile import CorpusError

# One tagged segment; a plain line is one segment, a conditioned pair is several (story,
# facts, target), and the line's tag is the last segment's.
SEGMENT = r"<\|({})\|> ((?:(?!<\|).)*?\S) {}".format("|".join(TAGS), re.escape(EOS))
LINE = re.compile(
    r"^(?:{})+$".format(SEGMENT.replace("(", "(?:").replace("(?:?:", "(?:").replace("(?:?!", "(?!"))
)
_SEGMENT = re.compile(SEGMENT)


def line_tag(line: str) -> str | None:
    """The tag of a well-formed corpus line (its last segment's), or None."""
    if not LINE.match(line):
        return None
    return _SEGMENT.findall(line)[-1][0]


def validate_splits(splits: dict[str, list[str]], expect_tags: list[str], out_dir: Path) -> None:
    """Check split lines before or after they are written.

    Args:
        splits: split name -> corpus lines.
        expect_tags: tags that must have at least one line in every split.
        out_dir: where the split files are (named in messages).

    Raises:
        CorpusError: the first problem, naming the split file and the line.
    """
    for split, lines in splits.items():
        path = out_dir / f"{split}.txt"
        if not lines:
            raise CorpusError(f"{path}: empty split (no lines); add text or change the ratios")
        tags: Counter = Counter()
        for number, line in enumerate(lines, start=1):
            tag = line_tag(line)
            if tag is None:
                raise CorpusError(
                    f"{path}: line {number}: not a '<|tag|> text {EOS}' line: {line[:80]!r}"
                )
            if line.count("<|") != 2 * len(_SEGMENT.findall(line)):
                raise CorpusError(f"{path}: line {number}: special-token text inside the line")
            tags[tag] += 1
        missing = [t for t in expect_tags if not tags[t]]
        if missing:
            raise CorpusError(
                f"{path}: expected tag(s) {', '.join(missing)} have zero examples "
                f"in this split (found: {dict(tags) or 'none'})"
            )


def validate_corpus_dir(out_dir: Path, expect_tags: list[str]) -> dict[str, int]:
    """Re-check a corpus directory on disk.

    Returns:
        Lines per split.
    """
    splits = {}
    for split in ("train", "dev", "test"):
        path = out_dir / f"{split}.txt"
        if not path.is_file():
            raise CorpusError(f"{path}: missing split file")
        splits[split] = path.read_text(encoding="utf-8").splitlines()
    validate_splits(splits, expect_tags, out_dir)
    return {split: len(lines) for split, lines in splits.items()}
