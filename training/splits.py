"""Honest splits: stratified by tag, a frozen test set per model line, and the leak check.

- **Stratified**: each tag is split by the ratios on its own, so a kind with few lines (24
  feedback rows, a handful of quest lines) still has dev and test lines, or the build stops
  and says how many it has. A plain shuffle once left dev with no quest line.
- **Frozen test set** (``[corpus] test_set``): the first build writes the test split to that
  file, beside the config; every later build (a retrain with new feedback, new sources)
  tests on exactly those lines, keeps every text of them out of train and dev, and refuses
  a file whose sha256 is not ``test_set_sha256``. Figures of two retrains then compare.
- **Leak check**: how many test lines a model was trained on (its train or dev split). A
  pipeline run writes ``trained_texts.txt`` (a short hash of each train and dev text) into
  the model folder, and ``train compare`` and the model card report the figure for every
  model that has one. With NLTK's splitter found silently, 172 of the 505 test lines of the
  shipped narrator's corpus were in its own training split.

Example::

    textgamegen train leaks --corpus runs/x/corpus narrator runs/old/corpus
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from pathlib import Path

from textgamegen import checksum
from textgamegen.text.layout import split_training_line
from training.textfile import CorpusError

TRAINED_TEXTS = "trained_texts.txt"
"""In a model folder: the short hashes of the texts its train and dev splits held."""
SPLIT_MODES = ("stratified", "shuffled")
KEY_CHARS = 16
"""Hex digits of a text's hash in ``trained_texts.txt`` (64 bits: no false match in
millions of lines)."""


def text_of(line: str) -> str:
    """The text a corpus line teaches (its target), as compared for leaks: case-folded."""
    try:
        return split_training_line(line)[2].strip().casefold()
    except ValueError:
        return line.strip().casefold()


def text_key(text: str) -> str:
    """The short hash of a (case-folded) text, as ``trained_texts.txt`` holds it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:KEY_CHARS]


def assign(
    tags: list[str], ratios: dict[str, float], mode: str, expect_tags: list[str], seed: int
) -> list[str]:
    """The split of each example, given the examples' tags in their shuffled order.

    Args:
        tags: each example's tag.
        ratios: split ratios (train, dev, test), summing to 1.
        mode: ``stratified`` (each tag split on its own) or ``shuffled`` (one split of the
            whole shuffled list, as before: kept so that an old model's corpus reproduces).
        expect_tags: tags that must reach every split with a ratio above 0.
        seed: decides which of a tag's lines go where (the list is shuffled already).

    Raises:
        CorpusError: a tag in ``expect_tags`` has too few lines for every split.
    """
    from training.corpus import SPLITS, split_sizes

    if mode == "shuffled":
        sizes = split_sizes(len(tags), ratios)
        return [split for split in SPLITS for _ in range(sizes[split])]
    needed = [s for s in SPLITS if ratios[s] > 0]
    by_tag: dict[str, list[int]] = defaultdict(list)
    for index, tag in enumerate(tags):
        by_tag[tag].append(index)
    for tag in expect_tags:
        if len(by_tag.get(tag, [])) < len(needed):
            raise CorpusError(
                f"tag {tag!r} has {len(by_tag.get(tag, []))} line(s), too few for one in each "
                f"of {', '.join(needed)}: add {tag} text (for feedback: more rated lines of "
                f"that kind), or take {tag!r} out of [corpus] expect_tags"
            )
    chosen = [""] * len(tags)
    rng = random.Random(seed + 3)
    for tag, indices in sorted(by_tag.items()):
        sizes = split_sizes(len(indices), ratios)
        if tag in expect_tags:
            # Rounding must not leave an expected tag out of a small split.
            for split in ("dev", "test"):
                if ratios[split] > 0 and sizes[split] == 0:
                    sizes[split], sizes["train"] = 1, sizes["train"] - 1
        order = list(indices)
        rng.shuffle(order)
        start = 0
        for split in SPLITS:
            for index in order[start : start + sizes[split]]:
                chosen[index] = split
            start += sizes[split]
    return chosen


def read_test_set(path: Path, expected_sha256: str) -> list[str]:
    """The frozen test set's lines, checked against its recorded sha256.

    Raises:
        CorpusError: unreadable, empty, or not the file that was frozen.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise CorpusError(f"{path}: cannot read the frozen test set: {error}") from None
    found = checksum.sha256(path)
    if expected_sha256 and found != expected_sha256:
        raise CorpusError(
            f"{path}: the frozen test set has changed (sha256 {found[:16]}..., the config's "
            f"test_set_sha256 is {expected_sha256[:16]}...): restore it, or start a new "
            "model line with a new test set (and a new test_set_sha256)"
        )
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise CorpusError(f"{path}: the frozen test set is empty")
    return lines


def trained_texts(lines: list[str]) -> str:
    """``trained_texts.txt``: the sorted short hashes of the texts of train and dev lines."""
    keys = sorted({text_key(text_of(line)) for line in lines})
    return "".join(key + "\n" for key in keys)


def read_trained(where: Path) -> set[str] | None:
    """The short hashes of what a model was trained on: from a model folder's
    ``trained_texts.txt``, or a corpus folder's train and dev splits; None when neither
    is there (a model registered before the file existed, a base)."""
    listed = where / TRAINED_TEXTS
    if listed.is_file():
        return set(listed.read_text(encoding="utf-8").split())
    if (where / "train.txt").is_file() and (where / "dev.txt").is_file():
        lines = []
        for split in ("train", "dev"):
            lines += (where / f"{split}.txt").read_text(encoding="utf-8").splitlines()
        return {text_key(text_of(line)) for line in lines if line.strip()}
    return None


def leaked(test_lines: list[str], trained: set[str]) -> int:
    """How many test lines' texts are among the trained ones."""
    return sum(1 for line in test_lines if text_key(text_of(line)) in trained)


def trained_on(spec: str | Path) -> tuple[str, set[str] | None]:
    """(how to name it, what it was trained on) for a model or corpus argument: a corpus
    folder, a model or adapter folder, or a registered name; None for a ``gguf:`` base
    or a model without ``trained_texts.txt``."""
    where = Path(str(spec)).expanduser()
    if where.is_dir() and (where / "train.txt").is_file():
        return str(spec), read_trained(where)
    if str(spec).startswith("gguf:"):
        return str(spec), None
    from training.evaluate import resolve_model

    _, found = resolve_model(spec)
    return str(spec), read_trained(Path(found))


def leak_report(test_lines: list[str], specs: list[str]) -> list[dict]:
    """For each model or corpus: how many of the test lines it was trained on."""
    rows = []
    for spec in specs:
        name, trained = trained_on(spec)
        rows.append(
            {
                "model": name,
                "test_lines": len(test_lines),
                "trained_on": None if trained is None else leaked(test_lines, trained),
            }
        )
    return rows
