"""The gate's feedback check holds a retrained model to the production version whatever
its kind (a full model, or a LoRA adapter as the shipped narrators are)."""

from __future__ import annotations

from pathlib import Path

import pytest

from training import heldout
from training.config import CorpusConfig, PipelineConfig


def _adapter(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name in ("adapter_config.json", "base.json", "tokenizer.json"):
        (folder / name).write_text("{}", encoding="utf-8")
    (folder / "adapter_model.safetensors").write_bytes(b"lora")
    return folder


@pytest.mark.parametrize(("new", "passed"), [(12.0, True), (30.0, False)])
def test_the_feedback_check_compares_with_a_registered_adapter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, new: float, passed: bool
) -> None:
    production = _adapter(tmp_path / "models" / "narrator")
    candidate = _adapter(tmp_path / "run" / "model")
    scored: list[Path] = []

    def word_perplexity(model_dir: Path, lines: list[str], device: str = "cpu") -> float:
        scored.append(model_dir)
        return new if model_dir == candidate else 20.0

    monkeypatch.setattr(heldout, "held_out_lines", lambda config: ["<|action|> A line."] * 3)
    monkeypatch.setattr(heldout, "word_perplexity", word_perplexity)
    config = PipelineConfig("narrator", CorpusConfig())
    ok, text = heldout.check_feedback(config, candidate, production)
    assert scored == [candidate, production]
    assert ok is passed
    assert text == (
        f"perplexity per word on 3 held-out good feedback lines {new:.2f} must not be worse "
        "than the registered model's 20.00"
    )
