"""Training writes its records atomically: a failed write leaves the old file whole.

Each record goes through a temp file in the same folder and one rename (the game's
``write_atomic``). A failing rename stands for a crash or a full disk mid-write: the old
file must still be there, whole, and no temp file left beside it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from training.evaluate import write_metrics
from training.modelcard import write_card
from training.pipeline import StageLog


@pytest.fixture
def failing_rename(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(source: object, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)


def _only(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_metrics_json_is_written_whole_or_not_at_all(tmp_path: Path, failing_rename: None) -> None:
    (tmp_path / "metrics.json").write_text('{"perplexity": 20.5}\n', encoding="utf-8")
    with pytest.raises(OSError):
        write_metrics(tmp_path, {"perplexity": 19.0, "samples": {"action": ["x" * 10_000]}})
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"perplexity": 20.5}
    assert _only(tmp_path) == ["metrics.json"]


def test_the_model_card_is_written_whole_or_not_at_all(
    tmp_path: Path, failing_rename: None
) -> None:
    (tmp_path / "README.md").write_text("# old card\n", encoding="utf-8")
    with pytest.raises(OSError):
        write_card(tmp_path, "# new card\n" * 1000)
    assert (tmp_path / "README.md").read_text() == "# old card\n"
    assert _only(tmp_path) == ["README.md"]


def test_the_stage_log_is_written_whole_or_not_at_all(tmp_path: Path, failing_rename: None) -> None:
    log = StageLog(tmp_path / "stages.json")
    (tmp_path / "stages.json").write_text('{"corpus": {"key": "abc"}}\n', encoding="utf-8")
    with pytest.raises(OSError):
        log.mark("validate", "def", lines={"train": 10})
    assert log.done("corpus", "abc") and not log.done("validate", "def")
    assert _only(tmp_path) == ["stages.json"]


def test_the_records_still_write_normally(tmp_path: Path) -> None:
    write_metrics(tmp_path, {"perplexity": 19.0})
    write_card(tmp_path, "# card\n")
    log = StageLog(tmp_path / "stages.json")
    log.mark("corpus", "abc")
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"perplexity": 19.0}
    assert (tmp_path / "README.md").read_text() == "# card\n"
    assert log.done("corpus", "abc")
    assert _only(tmp_path) == ["README.md", "metrics.json", "stages.json"]
