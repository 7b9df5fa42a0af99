"""Data-parallel fine-tune: the same command under torchrun with 2 gloo ranks on the CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from tiny_finetune import finetune_args, fixture_corpus


@pytest.mark.slow
def test_finetune_runs_under_torchrun_with_two_gloo_ranks(tmp_path) -> None:
    fixture_corpus(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--standalone",
        "-m",
        "training",
        *finetune_args(tmp_path, 4, "--max-steps", "3"),
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=240, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "finetune.json").read_text())
    assert summary["world_size"] == 2
    assert summary["steps"] == 3
    assert (tmp_path / "out" / "model" / "model.safetensors").is_file()
    # Effective batch 8 = 4 per rank x 2 ranks x 1 accumulation step.
    assert "batch 4 x 1 accumulation x 2 process(es)" in result.stdout


@pytest.mark.slow
def test_resume_continues_from_the_last_checkpoint(tmp_path, capsys) -> None:
    """A run killed after checkpoint-2 continues to its planned 4 steps; asking for another
    length is refused (its learning-rate schedule was built for 4)."""
    import shutil

    from training.cli import main

    fixture_corpus(tmp_path)
    common = finetune_args(tmp_path, 8, "--eval-steps", "2")
    assert main([*common, "--max-steps", "4"]) == 0
    assert (tmp_path / "out" / "checkpoints" / "checkpoint-2").is_dir()
    shutil.rmtree(tmp_path / "out" / "checkpoints" / "checkpoint-4")  # killed before it
    assert main([*common, "--max-steps", "4", "--resume"]) == 0
    log = json.loads((tmp_path / "out" / "log.json").read_text())
    assert max(entry["step"] for entry in log) == 4
    assert json.loads((tmp_path / "out" / "finetune.json").read_text())["steps"] == 4
    capsys.readouterr()
    assert main([*common, "--max-steps", "6", "--resume"]) != 0
    assert "planned for 4 steps" in capsys.readouterr().err
