"""The benchmarks find NLTK's data through NLTK_DATA or the project's corpora root, not a
fixed machine path."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.corpora import corpora_root, use_nltk_data

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_nltk_data_set_by_the_caller_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "nltk_data").mkdir()
    monkeypatch.setenv("NLTK_DATA", "/somewhere/else")
    assert use_nltk_data(tmp_path) == "/somewhere/else"


def test_the_corpora_root_gives_it_when_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NLTK_DATA", raising=False)
    assert use_nltk_data(tmp_path) == ""  # no nltk_data/ there: left unset
    (tmp_path / "nltk_data").mkdir()
    assert use_nltk_data(tmp_path) == str(tmp_path / "nltk_data")


def test_the_root_is_the_shipped_configs_beside_the_checkout() -> None:
    repo = BENCH.parent
    assert corpora_root() == (repo / "training" / "configs" / "../../../shared/corpora").resolve()


def test_no_benchmark_names_a_machine_path() -> None:
    for path in BENCH.glob("*.py"):
        assert "/work/" not in path.read_text(encoding="utf-8"), path.name
