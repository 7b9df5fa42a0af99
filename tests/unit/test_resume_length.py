"""Resuming a fine-tune whose length changed is refused, saying why and what to do; an
interrupted run of the same length still continues (issue 9).

The cosine schedule is built for the run's planned number of steps. A finished run resumed
after raising ``epochs`` would go on with a schedule no run was planned with (at the end
of the old one, the learning rate is about 0), so the checkpoint is not continued.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from training.config import FinetuneConfig
from training.finetune import FinetuneError, finetune, length_problem

LINES = [
    f"<|action|> The lantern number {i} glows over the quay and the fishing boats. <|endoftext|>"
    for i in range(12)
]


def _config(**changes) -> FinetuneConfig:
    settings = {
        "base": "scratch:toy",
        "vocab_size": 300,
        "block_size": 24,
        "batch_size": 4,
        "effective_batch": 4,
        "learning_rate": 1e-3,
        "logging_steps": 1,
        "precision": "fp32",
        "epochs": 1,
        "eval_steps": 1,
        "save_total_limit": 3,
    }
    return FinetuneConfig(**{**settings, **changes})


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("resume")
    corpus = tmp / "corpus"
    corpus.mkdir()
    (corpus / "train.txt").write_text("\n".join(LINES) + "\n", encoding="utf-8")
    (corpus / "dev.txt").write_text("\n".join(LINES[:4]) + "\n", encoding="utf-8")
    out = tmp / "run"
    result = finetune(corpus, out, _config(), device="cpu")
    return {"corpus": corpus, "out": out, "steps": result.steps}


@pytest.mark.slow
def test_more_epochs_on_a_finished_run_are_refused_naming_the_checkpoint(finished) -> None:
    steps = finished["steps"]
    checkpoint = finished["out"] / "checkpoints" / f"checkpoint-{steps}"
    assert steps >= 2 and checkpoint.is_dir()
    before = sorted(p.name for p in (finished["out"] / "checkpoints").iterdir())
    with pytest.raises(FinetuneError) as refused:
        finetune(finished["corpus"], finished["out"], _config(epochs=2), resume=True, device="cpu")
    message = str(refused.value)
    assert str(checkpoint) in message and f"planned for {steps} steps" in message
    assert f"asks for {2 * steps}" in message and "start a fresh run directory" in message
    # Nothing is lost: the checkpoints and the finished model stay as they were.
    assert sorted(p.name for p in (finished["out"] / "checkpoints").iterdir()) == before
    assert (finished["out"] / "model" / "model.safetensors").is_file()


@pytest.mark.slow
def test_an_interrupted_run_of_the_same_length_still_continues(finished) -> None:
    steps = finished["steps"]
    out = finished["out"].parent / "interrupted"
    shutil.copytree(finished["out"], out)
    shutil.rmtree(out / "checkpoints" / f"checkpoint-{steps}")  # killed before the last save
    result = finetune(finished["corpus"], out, _config(), resume=True, device="cpu")
    assert result.steps == steps
    log = json.loads((out / "log.json").read_text(encoding="utf-8"))
    assert max(entry["step"] for entry in log) == steps


def test_length_problem_reads_the_checkpoints_plan(tmp_path: Path) -> None:
    (tmp_path / "trainer_state.json").write_text(
        json.dumps({"global_step": 40, "max_steps": 40}), encoding="utf-8"
    )
    assert length_problem(tmp_path, 40) == ""
    assert "planned for 40 steps (it stopped at step 40)" in length_problem(tmp_path, 80)
    (tmp_path / "trainer_state.json").write_text("{}", encoding="utf-8")
    assert length_problem(tmp_path, 80) == ""  # an old checkpoint without a plan
