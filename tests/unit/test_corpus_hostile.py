"""Corpora in the wrong shape and output paths that cannot be written (issue 11)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from training.cli import main
from training.config import CorpusConfig, Source, load_config
from training.corpus import build_corpus
from training.formats import extract
from training.textfile import CorpusError

FIXTURES = Path(__file__).parent.parent / "fixtures" / "corpus"
TSV = FIXTURES / "dialogue_export.tsv"


def fixture_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    shutil.copytree(FIXTURES, folder)
    return folder / "fixture.toml"


def test_broken_dialogue_rows_are_named_by_file_and_line() -> None:
    src = Source(path="x", format="dialogue-export", text_column="Text")
    result = extract(TSV.read_text(), TSV, src, CorpusConfig(sources=[src]))
    assert result.broken == [
        f"{TSV}:10: 4 of 6 columns",
        f"{TSV}:11: empty 'Text' column",
        f"{TSV}:17: 3 of 6 columns",
    ]


def test_at_most_twenty_broken_rows_are_named(tmp_path: Path) -> None:
    rows = ["ID\tSpeaker\tText", *(f"{n}\tX" for n in range(50)), "99\tX\tA line of text."]
    path = tmp_path / "big.tsv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    src = Source(path="x", format="dialogue-export", text_column="Text")
    result = extract(path.read_text(), path, src, CorpusConfig(sources=[src]))
    assert result.dropped["row with missing columns"] == 50
    assert len(result.broken) == 20 and result.broken[0] == f"{path}:2: 2 of 3 columns"


def test_broken_rows_reach_stats_and_the_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = fixture_copy(tmp_path)
    assert main(["corpus", str(config), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "broken row: " in out and "dialogue_export.tsv:10: 4 of 6 columns" in out
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    named = stats["per_source"]["tavern-dialogue"]["broken_rows"]
    assert len(named) == 3 and named[0].endswith("dialogue_export.tsv:10: 4 of 6 columns")


def test_a_tsv_given_as_a_novel_is_refused_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = fixture_copy(tmp_path)
    text = config.read_text(encoding="utf-8").replace(
        'path = "lantern_keeper.txt"', 'path = "dialogue_export.tsv"'
    )
    config.write_text(text, encoding="utf-8")
    with pytest.raises(CorpusError, match=r"dialogue_export.tsv: line 1: looks like a tab-sep"):
        build_corpus(load_config(config), tmp_path / "out")
    assert main(["corpus", str(config), "--out", str(tmp_path / "out")]) == 2
    assert "dialogue-export" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def blocked_split(out: Path) -> None:
    out.mkdir()
    (out / "dev.txt").mkdir()


def out_is_a_file(out: Path) -> None:
    out.write_text("not a folder", encoding="utf-8")


@pytest.mark.parametrize("block", [blocked_split, out_is_a_file])
def test_an_output_that_cannot_be_written_is_exit_2_and_leaves_no_half_corpus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], block
) -> None:
    out = tmp_path / "out"
    block(out)
    before = sorted(p.name for p in out.iterdir()) if out.is_dir() else None
    assert main(["corpus", str(FIXTURES / "fixture.toml"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{out}: cannot write the corpus" in err and "Traceback" not in err
    after = sorted(p.name for p in out.iterdir()) if out.is_dir() else None
    assert after == before, "nothing half-written is left"


def test_a_write_failure_midway_leaves_the_old_corpus_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["corpus", str(FIXTURES / "fixture.toml"), "--out", str(out)]) == 0
    old = {p.name: p.read_bytes() for p in out.iterdir()}
    import builtins

    real_open = builtins.open

    def failing_open(file, mode="r", *args, **kwargs):
        if "w" in mode and str(file).endswith("dev.txt"):
            raise OSError(28, "No space left on device", str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", failing_open)
    assert main(["corpus", str(FIXTURES / "fixture.toml"), "--out", str(out)]) == 2
    monkeypatch.undo()
    assert "No space left on device" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == old
    fresh = tmp_path / "fresh"
    monkeypatch.setattr(builtins, "open", failing_open)
    assert main(["corpus", str(FIXTURES / "fixture.toml"), "--out", str(fresh)]) == 2
    monkeypatch.undo()
    assert not fresh.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temp folder removed"
