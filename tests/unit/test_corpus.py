"""Corpus stage: every source format, encodings, cleaning, splits, stats and bad input."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from training.config import ConfigError, CorpusConfig, Source, config_from_dict, load_config
from training.corpus import build_corpus, split_sizes
from training.formats import extract
from training.textfile import CorpusError, decode

FIXTURES = Path(__file__).parent.parent / "fixtures" / "corpus"
NOVEL = FIXTURES / "lantern_keeper.txt"


def _extract(path: Path, **source) -> list:
    data = path.read_bytes()
    text = decode(path, data).text
    src = Source(path=path.name, format=source.pop("format", "novel"), **source)
    return extract(text, path, src, CorpusConfig(sources=[src])).examples


def _config(tmp_path: Path, sources: list[dict], **corpus) -> object:
    return config_from_dict(
        {"name": "t", "corpus": {"sources": sources, **corpus}}, base_dir=tmp_path
    )


@pytest.fixture(scope="module")
def novel_examples() -> list:
    return _extract(NOVEL)


def test_novel_strips_gutenberg_header_footer_headings_and_markers(novel_examples) -> None:
    texts = " ".join(e.text for e in novel_examples)
    for gone in (
        "Project Gutenberg",
        "START OF",
        "CHAPTER",
        "CONTENTS",
        "Illustration",
        "THE END",
        "Fixture footer",
        "Lighthouse on the Hill",
        "by Nobody",
    ):
        assert gone not in texts
    assert novel_examples[0].text.startswith("The lighthouse stood alone on the hill")


def test_novel_keeps_abbreviations_inside_sentences(novel_examples) -> None:
    texts = [e.text for e in novel_examples]
    assert (
        "On the first cold day of autumn Mr. Pell came up the hill with his walking "
        "stick and his black umbrella."
    ) in texts
    assert "Dr. Amsel came with him, carrying a basket of apples." in texts
    assert not any(t in ("Mr.", "Dr.") or t.endswith(" Mr.") for t in texts)


def test_novel_tags_quoted_speech_dialogue_and_the_rest_action(novel_examples) -> None:
    tags = {e.text: e.tag for e in novel_examples}
    assert tags['"You want me to light the lamp," said Mara.'] == "dialogue"
    assert tags["Mara stood up and took the lantern key from the nail by the door."] == "action"
    # Punkt splits after '?"'; the speech tag is glued back, not left as an action line.
    assert tags['"Who kept all these?" whispered Mr. Pell.'] == "dialogue"
    assert "whispered Mr. Pell." not in tags
    assert all("\u201c" not in t and "\u2019" not in t for t in tags)


def test_novel_bom_crlf_and_latin1_variants_read_the_same(tmp_path, novel_examples) -> None:
    text = NOVEL.read_text(encoding="utf-8")
    bom = tmp_path / "bom.txt"
    bom.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    assert [e.text for e in _extract(bom)] == [e.text for e in novel_examples]
    latin = tmp_path / "latin.txt"
    latin.write_bytes(text.replace("Mara", "Ma\u00efa").replace("\n", "\r\n").encode("latin-1"))
    decoded = decode(latin, latin.read_bytes())
    assert decoded.encoding in ("cp1252", "latin-1")
    examples = _extract(latin)
    assert len(examples) == len(novel_examples)
    assert "Ma\u00efa stood up and took the lantern key from the nail by the door." in [
        e.text for e in examples
    ]


def test_dialogue_export_reads_the_named_column_and_counts_broken_rows() -> None:
    src = Source(path="x", format="dialogue-export", text_column="TEXT")
    text = (FIXTURES / "dialogue_export.tsv").read_text()
    result = extract(text, FIXTURES / "dialogue_export.tsv", src, CorpusConfig(sources=[src]))
    assert len(result.examples) == 17
    assert {e.tag for e in result.examples} == {"quest"}
    assert result.examples[0].text == (
        "Welcome to the Drowned Lantern, traveller. Mind the wet floor."
    )
    assert result.dropped["row with missing columns"] == 2
    assert result.dropped["row with empty text"] == 1


def test_dialogue_export_without_the_column_names_file_and_line() -> None:
    src = Source(path="x", format="dialogue-export", text_column="Line")
    with pytest.raises(CorpusError, match=r"dialogue_export.tsv: line 1: no column named 'Line'"):
        extract(
            (FIXTURES / "dialogue_export.tsv").read_text(),
            FIXTURES / "dialogue_export.tsv",
            src,
            CorpusConfig(sources=[src]),
        )


def test_transcript_keeps_narration_not_commands_with_the_configured_tag() -> None:
    examples = _extract(FIXTURES / "harbour_walk.txt", format="transcript", tag="action")
    texts = [e.text for e in examples]
    assert "The lighthouse door is locked. A brass plate reads: Light Is Kept." in texts
    assert not any(t.startswith(">") or "unlock door" in t for t in texts)
    assert {e.tag for e in examples} == {"action"}
    quest = _extract(FIXTURES / "harbour_walk.txt", format="transcript")
    assert {e.tag for e in quest} == {"quest"}


def test_open_adventure_yaml_and_zork_strings() -> None:
    adventure = [
        e.text for e in _extract(FIXTURES / "mini_adventure.yaml", format="open-adventure")
    ]
    assert (
        "You are standing on a stone quay. Nets are drying on iron hooks, and the smell "
        "of tar hangs in the air."
    ) in adventure
    assert "Are you trying to open the cellar door?" in adventure
    assert not any("%d" in t for t in adventure)
    zork = [e.text for e in _extract(FIXTURES / "mini_strings.txt", format="zork-strings")]
    assert zork == [
        "A rusty anchor lies half buried in the sand.",
        (
            "You hear the distant ringing of a ship's bell. The sound comes from somewhere "
            "beyond the rocks."
        ),
        "The tide is coming in fast.",
        "The lighthouse keeper's logbook is open on the desk, its last page blank.",
    ]


def test_fixture_corpus_builds_exact_splits_and_stats(tmp_path) -> None:
    config = load_config(FIXTURES / "fixture.toml")
    result = build_corpus(config, tmp_path / "out")
    total = result.stats["total_lines"]
    assert result.stats["splits"] == split_sizes(total, {"train": 0.8, "dev": 0.1, "test": 0.1})
    lines = {
        s: (tmp_path / "out" / f"{s}.txt").read_text().splitlines()
        for s in ("train", "dev", "test")
    }
    everything = lines["train"] + lines["dev"] + lines["test"]
    assert len(everything) == len(set(everything)) == total
    assert all(
        line.startswith(("<|action|> ", "<|dialogue|> ", "<|quest|> "))
        and line.endswith(" <|endoftext|>")
        for line in everything
    )
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert set(stats["per_tag"]) == {"action", "dialogue", "quest"}
    assert stats["per_source"]["tavern-dialogue"]["dropped"]["row with missing columns"] == 2
    assert len(stats["inputs_sha256"]) == 5
    # Files are named as the config names them, not by this machine's folders.
    for name in stats["inputs_sha256"]:
        assert not Path(name).is_absolute() and str(tmp_path) not in name, name
        assert (config.root / name).is_file() or name.startswith("config:"), name
    assert set(stats["outputs"]) == {"train.txt", "dev.txt", "test.txt"}
    # Deterministic: the same seed gives the same bytes.
    again = build_corpus(config, tmp_path / "again")
    assert again.splits == result.splits


@pytest.mark.parametrize(
    ("total", "ratios", "expected"),
    [
        (100, {"train": 0.8, "dev": 0.1, "test": 0.1}, {"train": 80, "dev": 10, "test": 10}),
        (1000, {"train": 0.9, "dev": 0.05, "test": 0.05}, {"train": 900, "dev": 50, "test": 50}),
        (7, {"train": 0.5, "dev": 0.25, "test": 0.25}, {"train": 3, "dev": 2, "test": 2}),
    ],
)
def test_split_sizes_are_exact(total, ratios, expected) -> None:
    assert split_sizes(total, ratios) == expected


def test_duplicates_are_dropped_and_counted(tmp_path) -> None:
    (tmp_path / "a.txt").write_text(
        "> look\nThe cave is dark and cold here.\n\n"
        "> look\nThe cave is dark and cold here.\n\n"
        + "".join(f"> go\nYou walk along passage number {n} now.\n\n" for n in range(40))
    )
    config = _config(
        tmp_path,
        [{"path": "a.txt", "format": "transcript"}],
        ratios={"train": 0.5, "dev": 0.25, "test": 0.25},
    )
    result = build_corpus(config, tmp_path / "out")
    assert result.stats["total_lines"] == 41
    assert result.stats["per_source"]["a.txt"]["duplicates"] == 1


def test_train_repeat_repeats_a_tag_in_train_only(tmp_path) -> None:
    config = load_config(FIXTURES / "fixture.toml")
    plain = build_corpus(config, tmp_path / "plain")
    config.corpus.train_repeat = {"quest": 3}
    repeated = build_corpus(config, tmp_path / "repeated")

    def tags(lines: list[str]) -> Counter:
        return Counter(line.split(" ", 1)[0] for line in lines)

    before, after = tags(plain.splits["train"]), tags(repeated.splits["train"])
    assert after["<|quest|>"] == 3 * before["<|quest|>"] > 0
    assert after["<|action|>"] == before["<|action|>"]
    assert sorted(set(repeated.splits["train"])) == sorted(plain.splits["train"])
    assert repeated.splits["dev"] == plain.splits["dev"]
    assert repeated.splits["test"] == plain.splits["test"]
    assert repeated.stats["train_lines_with_repeats"]["quest"] == after["<|quest|>"]


@pytest.mark.parametrize("repeat", [{"quest": 0}, {"riddle": 2}, {"quest": 1.5}])
def test_train_repeat_rejects_bad_values(tmp_path, repeat) -> None:
    with pytest.raises(ConfigError, match=r"corpus.train_repeat"):
        _config(tmp_path, [{"path": "a", "format": "novel"}], train_repeat=repeat)


# --- bad input: a clear message naming the file and the line ------------------------------


def test_binary_input_is_rejected(tmp_path) -> None:
    path = tmp_path / "story.txt"
    path.write_bytes(b"Once upon a time.\n\x00\x01\x02\x89PNG")
    config = _config(tmp_path, [{"path": "story.txt", "format": "novel"}])
    with pytest.raises(CorpusError, match=r"story.txt: line 2: binary input"):
        build_corpus(config, tmp_path / "out")


def test_undecodable_text_over_the_threshold_names_the_line(tmp_path) -> None:
    path = tmp_path / "story.txt"
    path.write_bytes(b"A fine line of text here.\nAnother \xff\xfe broken \xff line.\n")
    config = _config(tmp_path, [{"path": "story.txt", "format": "novel", "encoding": "utf-8"}])
    with pytest.raises(CorpusError, match=r"story.txt: line 2: 3 undecodable characters"):
        build_corpus(config, tmp_path / "out")


def test_no_usable_text_names_the_file(tmp_path) -> None:
    (tmp_path / "empty.txt").write_text("CHAPTER I.\n\nTHE END\n")
    config = _config(tmp_path, [{"path": "empty.txt", "format": "novel"}])
    with pytest.raises(CorpusError, match=r"empty.txt: line 1: no usable text as novel"):
        build_corpus(config, tmp_path / "out")


def test_ratios_must_sum_to_one(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"corpus.ratios must sum to 1"):
        _config(
            tmp_path,
            [{"path": "a", "format": "novel"}],
            ratios={"train": 0.8, "dev": 0.1, "test": 0.2},
        )


def test_unknown_format_and_key_are_named(tmp_path) -> None:
    with pytest.raises(ConfigError, match="format must be one of"):
        _config(tmp_path, [{"path": "a", "format": "pdf"}])
    with pytest.raises(ConfigError, match=r"\[corpus.sources\]: unknown key\(s\) colour"):
        _config(tmp_path, [{"path": "a", "format": "novel", "colour": "red"}])


def test_empty_split_is_rejected(tmp_path) -> None:
    shutil.copy(NOVEL, tmp_path / "n.txt")
    config = _config(
        tmp_path,
        [{"path": "n.txt", "format": "novel"}],
        ratios={"train": 1.0, "dev": 0.0, "test": 0.0},
    )
    with pytest.raises(CorpusError, match=r"dev.txt: empty split"):
        build_corpus(config, tmp_path / "out")


def test_expected_tag_without_examples_is_rejected(tmp_path) -> None:
    shutil.copy(NOVEL, tmp_path / "n.txt")
    config = _config(
        tmp_path, [{"path": "n.txt", "format": "novel"}], expect_tags=["action", "quest"]
    )
    with pytest.raises(CorpusError, match=r"tag 'quest' has 0 line\(s\), too few"):
        build_corpus(config, tmp_path / "out")


def test_missing_source_file_is_named(tmp_path) -> None:
    config = _config(tmp_path, [{"path": "nowhere/*.txt", "format": "novel"}])
    with pytest.raises(CorpusError, match=r"no file matches .*nowhere/\*\.txt"):
        build_corpus(config, tmp_path / "out")
