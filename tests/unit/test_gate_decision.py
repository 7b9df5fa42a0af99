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


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    from textgamegen.models.random_model import build_random_model

    tmp = tmp_path_factory.mktemp("latency")
    corpus = tmp / "corpus"
    corpus.mkdir()
    lines = [
        f"<|action|> You open door number {n} and step through. <|endoftext|>" for n in range(5)
    ]
    (corpus / "test.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    candidate = build_random_model(tmp / "candidate", shape="toy", seed=1)
    production = build_random_model(tmp / "production", shape="toy", seed=2)
    return candidate, production, corpus


def test_latency_is_held_to_production_measured_in_the_same_run(
    two_models: tuple[Path, Path, Path],
) -> None:
    from training.config import EvaluateConfig
    from training.gate import GateDecision, check_latency_ratio, latency_against_production

    candidate, production, corpus = two_models
    config = EvaluateConfig(latency_runs=1, narration_tokens=4)
    figures = latency_against_production(candidate, production, corpus, config, requests=2)
    assert figures["latency_requests"] == 2
    assert figures["latency_ms_candidate"] > 0 and figures["latency_ms_production"] > 0
    # The ratio is of the unrounded medians, the milliseconds are shown to 0.1 ms: a toy
    # model's few milliseconds make that rounding worth a few percent of the ratio.
    candidate_ms, production_ms = figures["latency_ms_candidate"], figures["latency_ms_production"]
    low = (candidate_ms - 0.05) / (production_ms + 0.05)
    high = (candidate_ms + 0.05) / max(production_ms - 0.05, 1e-9)
    assert low - 0.001 <= figures["latency_ratio"] <= high + 0.001
    generous, strict = GateDecision(True), GateDecision(True)
    check_latency_ratio(generous, figures, 1000.0)
    check_latency_ratio(strict, figures, 0.001)
    assert generous.passed and generous.figures == figures
    assert not strict.passed and strict.reasons[0].startswith("median narration latency ")
    assert "x the production version's" in strict.reasons[0]
    assert strict.record("narrator", 1, {})["figures"]["latency_ratio"] == figures["latency_ratio"]
