"""Stage 1, corpus: sources -> ``<|tag|> text <|endoftext|>`` lines, split train/dev/test.

Example::

    textgamegen train corpus training/configs/textgamegen.toml --out runs/textgamegen/corpus
    python -m training corpus tests/fixtures/corpus/fixture.toml --out /tmp/corpus

Writes ``train.txt``, ``dev.txt``, ``test.txt`` (one line per example, de-duplicated,
shuffled with the config's seed) and ``stats.json`` (counts per tag and per source,
lengths, lines dropped and why, sha256 of every input and output).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import random
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

from textgamegen import checksum
from textgamegen.text.canon import CAST_FILE, Cast
from textgamegen.text.layout import training_line
from textgamegen.text.lexicon import LEXICON_FILE, Lexicon, words_in
from training import EOS, tag_token
from training.config import CONFIG_PREFIX, CorpusConfig, PipelineConfig, Source, as_dict
from training.formats import Example, extract
from training.formats.extraction import MAX_BROKEN_NAMED, WORLD_KINDS
from training.formats.sniff import looks_like_tsv
from training.splits import (
    TRAINED_TEXTS,
    assign,
    leaked,
    read_test_set,
    text_key,
    text_of,
    trained_texts,
)
from training.textfile import CorpusError, read_text

SPLITS = ("train", "dev", "test")


def source_files(source: Source, root: Path, config_dir: Path | None = None) -> list[Path]:
    """The files a source names, sorted (a glob that matches nothing is an error).

    Args:
        source: its path is relative to ``root``, or ``config:PATH`` relative to
            ``config_dir`` (the config file's directory; default: the working directory).
        root: the config's root.
        config_dir: where the config file is.
    """
    path = source.path
    if path.startswith(CONFIG_PREFIX):
        path = str(((config_dir or Path.cwd()) / path[len(CONFIG_PREFIX) :]).resolve())
    pattern = path if Path(path).is_absolute() else str(root / path)
    files = sorted(
        Path(p)
        for p in glob.glob(pattern, recursive=True)
        if Path(p).is_file() and not any(fnmatch(Path(p).name, x) for x in source.exclude)
    )
    if not files:
        raise CorpusError(f"source {source.name!r}: no file matches {pattern}")
    return files


def source_label(path: Path, source: Source, root: Path, config_dir: Path | None = None) -> str:
    """How stats.json names a source file: as the config would (relative to the root, or
    ``config:`` and relative to the config file), so a corpus built on one machine does
    not record that machine's folders."""
    if source.path.startswith(CONFIG_PREFIX):
        base, prefix = (config_dir or Path.cwd()).resolve(), CONFIG_PREFIX
    else:
        base, prefix = root.resolve(), ""
    try:
        return prefix + Path(os.path.relpath(path.resolve(), base)).as_posix()
    except ValueError:  # another drive (Windows): nothing shorter is true
        return str(path)


def input_files(config: PipelineConfig) -> list[Path]:
    """Every input file of the config, in source order (for hashing)."""
    return [
        f for s in config.corpus.sources for f in source_files(s, config.root, config.config_dir)
    ]


def corpus_line(example: Example) -> str:
    """The training line for one example: plain, or a conditioned pair in the game's
    prompt layout (story, facts, target) when the example has facts."""
    if example.facts is None:
        return f"{tag_token(example.tag)} {example.text} {EOS}"
    return training_line(example.tag, example.facts, example.story, example.text)


_CONTENT_WORD = re.compile(r"[a-z]{4,}")
_PROPER = re.compile(r"(?<=[\w,;:'\"’”)] )([A-Z][a-z][\w'’-]*)")
_NOT_NAMES = frozenset(
    {"I", "Mr", "Mrs", "Miss", "Sir", "Lady", "Lord", "God", "O", "Oh", "Dr", "St", "Ms"}
)


IN_DOMAIN_FORMATS = ("world", "feedback")
"""Sources written for this game: their names are the worlds' own, not a book's cast."""
CAST_MIN_COUNT = 3
"""A name must appear this often, capitalised inside a sentence, to join the cast."""
LEXICON_MIN_COUNT = 2
"""A word of a book must appear this often to join the lexicon (one-off misprints and
coinages stay out); every word of a source written for this game joins it."""


def lexicon_words(counts: dict[str, Counter]) -> list[str]:
    """The lexicon's words (see ``text.lexicon``), most common first, from each source
    format's word counts: a book's words seen ``LEXICON_MIN_COUNT`` times or more, and
    every word of a source written for this game."""
    total: Counter = Counter()
    kept: set[str] = set()
    for source_format, counter in counts.items():
        total.update(counter)
        least = 1 if source_format in IN_DOMAIN_FORMATS else LEXICON_MIN_COUNT
        kept.update(word for word, count in counter.items() if count >= least)
    return sorted(kept, key=lambda word: (-total[word], word))


def count_names(text: str, capitalised: Counter, lower: Counter) -> None:
    """Count a text's capitalised words inside sentences, and every lower-case word."""
    for word in _PROPER.findall(text):
        capitalised[re.sub(r"['’]s$", "", word)] += 1
    for word in re.findall(r"\b[a-z][a-z'’-]*", text):
        lower[word] += 1


def cast_names(capitalised: Counter, lower: Counter) -> list[str]:
    """The names of the training text: capitalised inside sentences at least
    ``CAST_MIN_COUNT`` times and written in lower case less than a tenth as often (so
    "Mowgli" and "Akela" are names and "Will" and "Rose" are words)."""
    return sorted(
        word
        for word, count in capitalised.items()
        if count >= CAST_MIN_COUNT
        and word not in _NOT_NAMES
        and lower[word.casefold()] * 10 < count
        and len(word) <= 40
    )


def unstated_names(text: str, facts: dict[str, str]) -> list[str]:
    """Capitalised words inside a sentence (not at its start or after its end: names,
    not sentence openings) that none of its facts contains."""
    given = " ".join(facts.values())
    return [
        word
        for word in _PROPER.findall(text)
        if word not in _NOT_NAMES and re.search(rf"\b{re.escape(word)}\b", given) is None
    ]


def _condition_file(
    examples: list[Example], corpus: CorpusConfig, rng: random.Random, counts: Counter
) -> list[Example]:
    """Give one file's examples their facts and story (see training/grounding.py).

    A transcript response is kept only when it follows from the command and what it
    names: it must share a content word with the command. Responses that depend on
    hidden game state ("You are in a maze") teach a model to ignore its prompt.
    """
    from training.grounding import condition

    plain = [e for e in examples if e.facts is None]
    conditioned = condition(
        [(e.text, e.tag) for e in plain], rng, counts, corpus.story_words, corpus.noun_tagger
    )
    kept: list[Example] = [e for e in examples if e.facts is not None]
    for example, conditioning in zip(plain, conditioned, strict=False):
        if conditioning is None:
            continue
        tag, facts, story = conditioning
        if corpus.names_in_facts and unstated_names(example.text, facts):
            counts["names a person or place its facts do not give"] += 1
            continue
        if example.command:
            words = set(_CONTENT_WORD.findall(example.command.lower()))
            if not words & set(_CONTENT_WORD.findall(example.text.lower())):
                counts["transcript response not predictable from the command"] += 1
                continue
            facts = {"you": example.command, **facts}
        example.tag, example.facts, example.story = tag, facts, story
        kept.append(example)
    return kept


@dataclass
class CorpusResult:
    """What ``build_corpus`` wrote."""

    out_dir: Path
    splits: dict[str, list[str]]
    stats: dict = field(default_factory=dict)


def split_sizes(total: int, ratios: dict[str, float]) -> dict[str, int]:
    """Lines per split: dev and test rounded, train takes the rest (sums to ``total``)."""
    dev = round(total * ratios["dev"])
    test = round(total * ratios["test"])
    return {"train": total - dev - test, "dev": dev, "test": test}


def _lengths(texts: list[str]) -> dict:
    if not texts:
        return {"lines": 0}
    words = [len(t.split()) for t in texts]
    return {
        "lines": len(texts),
        "words_min": min(words),
        "words_max": max(words),
        "words_mean": round(statistics.fmean(words), 2),
        "words_median": statistics.median(words),
        "chars_mean": round(statistics.fmean(len(t) for t in texts), 2),
    }


def collect(
    config: CorpusConfig, root: Path, config_dir: Path | None = None
) -> tuple[list[tuple[str, Example]], dict]:
    """Read every source; return (source name, example) pairs and per-source stats.

    Raises:
        CorpusError: a file that is binary, undecodable, or yields no usable text.
    """
    examples: list[tuple[str, Example]] = []
    per_source: dict[str, dict] = {}
    for source in config.sources:
        info = per_source.setdefault(
            source.name,
            {
                "format": source.format,
                "files": {},
                "examples": Counter(),
                "dropped": Counter(),
                "broken_rows": [],
            },
        )
        for path in source_files(source, root, config_dir):
            decoded = read_text(path, source.encoding, config.max_undecodable)
            if source.format != "dialogue-export":
                table = looks_like_tsv(decoded.text)
                if table:
                    raise CorpusError(
                        f"{path}: line 1: looks like a tab-separated table with a header "
                        f"({table}), not {source.format!r} text; for a dialogue export set "
                        f'format = "dialogue-export" in source {source.name!r}'
                    )
            extraction = extract(decoded.text, path, source, config)
            # Feedback may hold only lines that are left out (all rated bad): not an error.
            if not extraction.examples and source.format != "feedback":
                reasons = ", ".join(f"{n} {r}" for r, n in extraction.dropped.most_common())
                raise CorpusError(
                    f"{path}: line 1: no usable text as {source.format}"
                    + (f" (dropped: {reasons})" if reasons else "")
                )
            # The whole text counts, not only the lines kept: the lexicon is the sources'
            # English, and the base model read far more than the sample.
            info.setdefault("words", Counter()).update(words_in(decoded.text))
            if source.format not in IN_DOMAIN_FORMATS:
                cast = info.setdefault("cast", (Counter(), Counter()))
                for example in extraction.examples:
                    count_names(example.text, *cast)
            if config.conditioned:
                rng = random.Random(f"{config.seed}:{path.name}")
                conditioning = info.setdefault("conditioning", Counter())
                extraction.examples = _condition_file(
                    extraction.examples, config, rng, conditioning
                )
            info["files"][source_label(path, source, root, config_dir)] = {
                "sha256": checksum.sha256(path),
                "encoding": decoded.encoding,
                "examples": len(extraction.examples),
            }
            info["examples"].update(e.tag for e in extraction.examples)
            info["dropped"].update(extraction.dropped)
            room = MAX_BROKEN_NAMED - len(info["broken_rows"])
            info["broken_rows"] += extraction.broken[: max(0, room)]
            examples += [(source.name, e) for e in extraction.examples]
    return examples, per_source


def _sample_sources(
    unique: list[tuple[str, Example]], corpus: CorpusConfig
) -> tuple[list[tuple[str, Example]], Counter]:
    """Keep at most ``max_examples`` of each source (the list is already shuffled, so the
    first ones are a seeded sample); returns the kept list and how many each source lost."""
    limits = {s.name: s.max_examples for s in corpus.sources if s.max_examples}
    if not limits:
        return unique, Counter()
    taken: Counter = Counter()
    kept: list[tuple[str, Example]] = []
    lost: Counter = Counter()
    for name, example in unique:
        if name in limits and taken[name] >= limits[name]:
            lost[name] += 1
            continue
        taken[name] += 1
        kept.append((name, example))
    # Reshuffle: the kept ones of a capped source all sit early in the list, and the split
    # is taken in order, so without this the capped source would be missing from test.
    random.Random(corpus.seed + 2).shuffle(kept)
    return kept, lost


def _repeat_train(
    train: list[tuple[str, Example]],
    repeat: dict[str, int],
    seed: int,
    source_repeat: dict[str, int] | None = None,
) -> list[tuple[str, Example]]:
    """The train split with each tag's lines repeated ``repeat[tag]`` times (and each
    source's ``repeat`` times), reshuffled so copies do not sit side by side."""
    source_repeat = source_repeat or {}
    if not any(times > 1 for times in [*repeat.values(), *source_repeat.values()]):
        return train
    out = [
        item
        for item in train
        for _ in range(repeat.get(item[1].tag, 1) * source_repeat.get(item[0], 1))
    ]
    random.Random(seed + 1).shuffle(out)
    return out


def build_corpus(config: PipelineConfig, out_dir: Path) -> CorpusResult:
    """Build, de-duplicate, shuffle and split the corpus; write it and stats.json.

    Args:
        config: the pipeline config (its ``corpus`` section and ``root``).
        out_dir: where train.txt, dev.txt, test.txt and stats.json go.

    Returns:
        The split lines and the stats.

    Raises:
        CorpusError: bad input or a corpus that fails validation, naming file and line.
    """
    corpus = config.corpus
    check_output(out_dir)
    examples, per_source = collect(corpus, config.root, config.config_dir)
    seen: set[str] = set()
    unique: list[tuple[str, Example]] = []
    duplicates: Counter = Counter()
    for name, example in examples:
        # The same text under two tags is still one text: keep its first occurrence.
        key = example.text.casefold()
        if key in seen:
            duplicates[name] += 1
            continue
        seen.add(key)
        unique.append((name, example))
    random.Random(corpus.seed).shuffle(unique)
    unique, sampled_out = _sample_sources(unique, corpus)
    test_set_path = config.config_dir / corpus.test_set if corpus.test_set else None
    frozen: list[str] | None = None
    ratios = dict(corpus.ratios)
    held_back = 0
    if test_set_path is not None and test_set_path.exists():
        # The model line's test set: its lines are the test split, and their texts are
        # kept out of train and dev; the rest is split between train and dev.
        frozen = read_test_set(test_set_path, corpus.test_set_sha256)
        frozen_texts = {text_of(line) for line in frozen}
        before = len(unique)
        unique = [item for item in unique if item[1].text.casefold() not in frozen_texts]
        held_back = before - len(unique)
        rest = ratios["train"] + ratios["dev"]
        ratios = {"train": ratios["train"] / rest, "dev": ratios["dev"] / rest, "test": 0.0}
    chosen = assign(
        [e.tag for _, e in unique],
        ratios,
        corpus.split,
        corpus.expect_tags,
        corpus.seed,
    )
    splits: dict[str, list[tuple[str, Example]]] = {split: [] for split in SPLITS}
    for item, split in zip(unique, chosen, strict=True):
        splits[split].append(item)
    repeated = _repeat_train(
        splits["train"],
        corpus.train_repeat,
        corpus.seed,
        {s.name: s.repeat for s in corpus.sources},
    )

    from training.validate import line_tag, validate_splits

    lines = {split: [corpus_line(e) for _, e in items] for split, items in splits.items()}
    lines["train"] = [corpus_line(e) for _, e in repeated]
    if frozen is not None:
        lines["test"] = frozen
    validate_splits(lines, corpus.expect_tags, out_dir)
    trained = {text_key(text_of(line)) for split in ("train", "dev") for line in lines[split]}

    texts = {f"{split}.txt": "".join(line + "\n" for line in lines[split]) for split in SPLITS}
    outputs = {}
    for split in SPLITS:
        data = texts[f"{split}.txt"].encode("utf-8")
        outputs[f"{split}.txt"] = {
            "lines": len(lines[split]),
            "sha256": hashlib.sha256(data).hexdigest(),
        }

    tags = sorted({e.tag for _, e in unique})
    in_domain_words = sum(len(corpus_line(e).split()) for _, e in repeated if e.kind)
    train_words = sum(len(corpus_line(e).split()) for _, e in repeated)
    stats = {
        "per_kind": {
            kind: len({e.text for _, e in unique if e.kind == kind}) for kind in WORLD_KINDS
        },
        "in_domain_lines": len({e.text for _, e in unique if e.kind}),
        "in_domain_train_share": round(in_domain_words / train_words, 4) if train_words else 0.0,
        "total_lines": len(unique),
        "splits": {s: len(lines[s]) for s in SPLITS},
        "ratios": corpus.ratios,
        "seed": corpus.seed,
        "per_tag": {t: _lengths([e.text for _, e in unique if e.tag == t]) for t in tags},
        "per_split_tag": {s: dict(Counter(line_tag(line) for line in lines[s])) for s in SPLITS},
        "split": corpus.split,
        "sentence_splitter": corpus.sentence_splitter,
        "test_set": {
            "path": corpus.test_set,
            "sha256": hashlib.sha256(texts["test.txt"].encode("utf-8")).hexdigest(),
            "frozen": frozen is not None,
            "texts_kept_out_of_train_and_dev": held_back,
        },
        "leak_check": {
            "test_lines": len(lines["test"]),
            "in_train_or_dev": leaked(lines["test"], trained),
        },
        "train_repeat": dict(corpus.train_repeat),
        "conditioned": corpus.conditioned,
        "noun_tagger": _tagger_name(corpus.noun_tagger) if corpus.conditioned else "",
        "per_source_split_tag": {
            name: {s: dict(Counter(e.tag for n, e in splits[s] if n == name)) for s in SPLITS}
            for name in per_source
        },
        "sampled_out": dict(sampled_out),
        "train_lines_with_repeats": dict(Counter(e.tag for _, e in repeated)),
        "per_source": {
            name: {
                "format": info["format"],
                "examples": dict(info["examples"]),
                "kept_after_dedup": dict(Counter(e.tag for n, e in unique if n == name)),
                "duplicates": duplicates[name],
                "dropped": dict(info["dropped"].most_common()),
                "conditioning": dict(info.get("conditioning", Counter())),
                "broken_rows": info["broken_rows"],
                "files": info["files"],
            }
            for name, info in per_source.items()
        },
        "dropped_total": dict(
            sum((i["dropped"] for i in per_source.values()), Counter())
            + Counter({"duplicate": sum(duplicates.values())})
        ),
        "inputs_sha256": {
            p: f["sha256"] for i in per_source.values() for p, f in i["files"].items()
        },
        "outputs": outputs,
        "config": as_dict(corpus),
    }
    capitalised: Counter = Counter()
    lower: Counter = Counter()
    for info in per_source.values():
        if "cast" in info:
            capitalised.update(info["cast"][0])
            lower.update(info["cast"][1])
    names = cast_names(capitalised, lower)
    stats["cast"] = len(names)
    texts["cast.json"] = Cast(frozenset(names)).to_json() + "\n"
    counts: dict[str, Counter] = {}
    for info in per_source.values():
        counts.setdefault(info["format"], Counter()).update(info.get("words", Counter()))
    lexicon = Lexicon.of(lexicon_words(counts))
    stats["lexicon"] = len(lexicon)
    texts[LEXICON_FILE] = lexicon.to_json() + "\n"
    texts[TRAINED_TEXTS] = trained_texts(lines["train"] + lines["dev"])
    texts["stats.json"] = json.dumps(stats, indent=2, sort_keys=True) + "\n"
    publish(out_dir, texts)
    if test_set_path is not None and frozen is None:
        freeze_test_set(test_set_path, texts["test.txt"])
    return CorpusResult(out_dir=out_dir, splits=lines, stats=stats)


def freeze_test_set(path: Path, text: str) -> None:
    """Write a model line's first test split as its frozen test set, and say so."""
    from textgamegen.atomic import write_atomic

    try:
        write_atomic(path, text)
    except OSError as error:
        raise CorpusError(f"{path}: cannot write the frozen test set: {error}") from None
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    print(
        f"corpus: froze the test set: {text.count(chr(10))} lines in {path}; commit it "
        f'beside the config, with test_set_sha256 = "{digest}" in [corpus]',
        flush=True,
    )


def _tagger_name(tagger: str) -> str:
    from training.grounding import tagger_name

    return tagger_name(tagger)


OUTPUT_FILES = (
    *tuple(f"{split}.txt" for split in SPLITS),
    "stats.json",
    CAST_FILE,
    LEXICON_FILE,
    TRAINED_TEXTS,
)


def _output_problem(out_dir: Path) -> str:
    if out_dir.exists() and not out_dir.is_dir():
        return "is a file, not a folder"
    for name in OUTPUT_FILES:
        path = out_dir / name
        if path.exists() and not path.is_file():
            return f"{name} there is not a file (a folder or special file blocks it)"
    return ""


def check_output(out_dir: Path) -> None:
    """Refuse an output folder that cannot take a corpus, before any work.

    Raises:
        CorpusError: the path is a file, or a split file is blocked.
    """
    problem = _output_problem(out_dir)
    if problem:
        raise CorpusError(f"{out_dir}: cannot write the corpus: {problem}")


def publish(out_dir: Path, texts: dict[str, str]) -> None:
    """Write the corpus files into a temp folder, then move them into ``out_dir`` at the
    end, so a failure leaves the old corpus (or nothing), never a folder with half of one.

    Raises:
        CorpusError: the folder cannot be written (named, with the reason).
    """
    import os
    import shutil
    import tempfile

    check_output(out_dir)
    fresh = not out_dir.exists()
    temp: Path | None = None
    try:
        # Inside an existing folder (same file system, so renames are atomic), else beside it.
        parent = out_dir.parent if fresh else out_dir
        parent.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=parent))
        for name, text in texts.items():
            with open(temp / name, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        if fresh:
            os.replace(temp, out_dir)
            temp = None
        else:
            for name in texts:
                os.replace(temp / name, out_dir / name)
    except OSError as error:
        raise CorpusError(
            f"{out_dir}: cannot write the corpus: "
            f"{error.strerror or error} ({error.filename or out_dir})"
        ) from None
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)


def corpus_sha256(out_dir: Path) -> str:
    """One hash over the three split files (what a fine-tune depends on)."""
    digest = hashlib.sha256()
    for split in SPLITS:
        digest.update(split.encode())
        digest.update(checksum.sha256(out_dir / f"{split}.txt").encode())
    return digest.hexdigest()
