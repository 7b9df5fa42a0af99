"""Resume picks the newest *complete* checkpoint and says which (issue 11)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tiny_finetune import finetune_args, fixture_corpus

from training.checkpoints import checkpoint_problem, newest_complete, resume_checkpoint


def complete_checkpoint(folder: Path, step: int) -> Path:
    import numpy as np
    from safetensors.numpy import save_file

    path = folder / f"checkpoint-{step}"
    path.mkdir(parents=True)
    save_file({"w": np.ones((16, 16), dtype=np.float32)}, str(path / "model.safetensors"))
    (path / "config.json").write_text("{}", encoding="utf-8")
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
        (path / name).write_bytes(b"x" * 10)
    (path / "trainer_state.json").write_text(json.dumps({"global_step": step}), "utf-8")
    return path


def test_partial_checkpoints_are_skipped_with_the_reason(tmp_path: Path) -> None:
    good = complete_checkpoint(tmp_path, 2)
    no_state = complete_checkpoint(tmp_path, 4)
    (no_state / "trainer_state.json").unlink()
    truncated = complete_checkpoint(tmp_path, 6)
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    empty = tmp_path / "checkpoint-10"
    empty.mkdir()
    assert checkpoint_problem(good) == ""
    assert "trainer_state.json" in checkpoint_problem(no_state)
    assert "truncated" in checkpoint_problem(truncated)
    picked, skipped = newest_complete(tmp_path)
    assert picked == good
    names = [path.name for path, _ in skipped]
    assert names == ["checkpoint-10", "checkpoint-6", "checkpoint-4"]


def test_resume_says_which_and_sets_the_partial_ones_aside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = complete_checkpoint(tmp_path, 2)
    partial = complete_checkpoint(tmp_path, 4)
    (partial / "optimizer.pt").unlink()
    assert resume_checkpoint(tmp_path) == str(good)
    out = capsys.readouterr().out
    assert f"resume: from {good}" in out and "skipped checkpoint-4: no optimizer.pt" in out
    assert not partial.exists() and (tmp_path / "incomplete-checkpoint-4").is_dir()


def test_no_complete_checkpoint_gives_none(tmp_path: Path) -> None:
    partial = complete_checkpoint(tmp_path, 3)
    (partial / "trainer_state.json").write_text("{", encoding="utf-8")
    assert resume_checkpoint(tmp_path) is None
    assert partial.is_dir(), "nothing is moved when there is nothing to resume from"


@pytest.mark.slow
def test_finetune_resume_skips_a_checkpoint_killed_mid_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from training.cli import main

    fixture_corpus(tmp_path)
    common = finetune_args(tmp_path, 8, "--eval-steps", "2")
    assert main([*common, "--max-steps", "4"]) == 0
    checkpoints = tmp_path / "out" / "checkpoints"
    # The same run killed after checkpoint-2 (a resume must keep the run's length: a
    # longer one is refused, see test_resume_length), while writing checkpoint-3: half
    # the weights, no trainer state.
    shutil.rmtree(checkpoints / "checkpoint-4")
    killed = checkpoints / "checkpoint-3"
    shutil.copytree(checkpoints / "checkpoint-2", killed)
    (killed / "trainer_state.json").unlink()
    weights = killed / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    capsys.readouterr()
    assert main([*common, "--max-steps", "4", "--resume"]) == 0
    out = capsys.readouterr().out
    assert f"resume: from {checkpoints / 'checkpoint-2'}" in out
    assert json.loads((tmp_path / "out" / "finetune.json").read_text())["steps"] == 4
