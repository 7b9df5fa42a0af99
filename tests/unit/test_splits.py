"""Honest splits: stratified by tag, a frozen test set per model line, and the leak check."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from training.cli import main
from training.config import ConfigError, CorpusConfig, load_config
from training.corpus import build_corpus
from training.splits import TRAINED_TEXTS, assign, leaked, read_trained
from training.textfile import CorpusError

FIXTURE = Path(__file__).parent.parent / "fixtures" / "corpus" / "fixture.toml"
RATIOS = {"train": 0.8, "dev": 0.1, "test": 0.1}


def _feedback_tags(seed: int) -> list[str]:
    """24 feedback rows, 4 of them quest, in a shuffled order."""
    tags = ["action"] * 20 + ["quest"] * 4
    random.Random(seed).shuffle(tags)
    return tags


def test_a_small_corpus_still_gives_every_split_every_tag() -> None:
    for seed in range(20):
        tags = _feedback_tags(seed)
        chosen = assign(tags, RATIOS, "stratified", ["action", "quest"], seed)
        for split in ("train", "dev", "test"):
            assert {t for t, s in zip(tags, chosen, strict=True) if s == split} == {
                "action",
                "quest",
            }


def test_the_plain_shuffle_can_leave_a_split_without_a_tag() -> None:
    # Why the split is stratified: the old way left dev with no quest line.
    missing = 0
    for seed in range(20):
        tags = _feedback_tags(seed)
        chosen = assign(tags, RATIOS, "shuffled", [], seed)
        dev = {t for t, s in zip(tags, chosen, strict=True) if s == "dev"}
        missing += "quest" not in dev
    assert missing > 0


def test_too_few_lines_of_an_expected_tag_is_a_clear_error() -> None:
    tags = ["action"] * 20 + ["quest"] * 2
    with pytest.raises(CorpusError, match=r"tag 'quest' has 2 line\(s\), too few.*expect_tags"):
        assign(tags, RATIOS, "stratified", ["action", "quest"], 1)
    with pytest.raises(ConfigError, match=r"corpus\.split"):
        CorpusConfig(split="alphabetical")


def _config(tmp_path: Path, seed: int, extra: str = "") -> Path:
    text = FIXTURE.read_text(encoding="utf-8").replace(
        'name = "fixture"', f'name = "fixture"\nroot = "{FIXTURE.parent}"'
    )
    text = text.replace("seed = 7\n", f'seed = {seed}\ntest_set = "fixture-test.txt"\n{extra}', 1)
    path = tmp_path / "fixture.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_frozen_test_set_is_kept_across_retrains_and_out_of_training(
    tmp_path: Path, capsys
) -> None:
    first = build_corpus(load_config(_config(tmp_path, 7)), tmp_path / "one")
    frozen = tmp_path / "fixture-test.txt"
    assert frozen.read_text(encoding="utf-8").splitlines() == first.splits["test"]
    assert "froze the test set" in capsys.readouterr().out
    # A retrain that shuffles otherwise (another seed) tests on the same lines, and trains
    # on none of their texts.
    second = build_corpus(load_config(_config(tmp_path, 8)), tmp_path / "two")
    assert second.splits["test"] == first.splits["test"]
    assert (tmp_path / "two" / "test.txt").read_bytes() == frozen.read_bytes()
    assert second.stats["test_set"]["frozen"] is True
    assert second.stats["leak_check"] == {
        "test_lines": len(first.splits["test"]),
        "in_train_or_dev": 0,
    }
    trained = read_trained(tmp_path / "two")
    assert trained is not None and leaked(second.splits["test"], trained) == 0
    assert (tmp_path / "two" / TRAINED_TEXTS).is_file()


def test_a_changed_frozen_test_set_is_refused(tmp_path: Path) -> None:
    build_corpus(load_config(_config(tmp_path, 7)), tmp_path / "one")
    frozen = tmp_path / "fixture-test.txt"
    digest = hashlib.sha256(frozen.read_bytes()).hexdigest()
    config = load_config(_config(tmp_path, 8, f'test_set_sha256 = "{digest}"\n'))
    build_corpus(config, tmp_path / "two")  # unchanged: accepted
    frozen.write_text(frozen.read_text(encoding="utf-8")[:-40] + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="the frozen test set has changed"):
        build_corpus(config, tmp_path / "three")


def test_the_leak_check_counts_test_lines_another_split_trained_on(tmp_path: Path, capsys) -> None:
    one = build_corpus(load_config(FIXTURE), tmp_path / "one")
    text = FIXTURE.read_text(encoding="utf-8").replace(
        'name = "fixture"', f'name = "fixture"\nroot = "{FIXTURE.parent}"'
    )
    other = tmp_path / "other.toml"
    other.write_text(text.replace("seed = 7\n", "seed = 8\n", 1), encoding="utf-8")
    build_corpus(load_config(other), tmp_path / "two")
    trained = read_trained(tmp_path / "two")
    assert trained is not None
    count = leaked(one.splits["test"], trained)
    assert 0 < count <= len(one.splits["test"])
    capsys.readouterr()
    assert main(["leaks", "--corpus", str(tmp_path / "one"), str(tmp_path / "two")]) == 0
    assert f"{count} of {len(one.splits['test'])} test lines" in capsys.readouterr().out
    assert leaked(one.splits["test"], read_trained(tmp_path / "one") or set()) == 0


def test_a_capped_test_split_keeps_every_tag(tmp_path: Path) -> None:
    from training.evaluate import read_test_split

    lines = [f"<|action|> You walk on, step {n}. <|endoftext|>" for n in range(40)]
    lines += ["<|quest|> Bring the rope to Ferrin. <|endoftext|>"] * 2
    (tmp_path / "test.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    sample = read_test_split(tmp_path, 10)
    assert sum("<|quest|>" in line for line in sample) == 1
    assert sum("<|action|>" in line for line in sample) == 10
    assert read_test_split(tmp_path) == lines
