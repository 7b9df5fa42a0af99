"""The pipeline end to end on the fixture corpus with a tiny scratch model.

One module-scoped run trains for real (a few seconds), then the tests check what it
registered, that a rerun skips every stage, that a strict gate refuses the same model, and
that the registered model is listed and used by the game's commands.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from training import pipeline
from training.cli import main

FIXTURE = Path(__file__).parent.parent / "fixtures" / "corpus" / "fixture.toml"
pytestmark = pytest.mark.slow


def _config(tmp: Path, name: str, gate: str) -> Path:
    """The fixture config under another name and gate, reading the same fixture files."""
    text = FIXTURE.read_text().replace(
        'name = "fixture"', f'name = "{name}"\nroot = "{FIXTURE.parent}"'
    )
    text = text.replace("[gate]\nmax_latency_ms = 5000", gate)
    path = tmp / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pipeline")
    config = _config(
        tmp,
        "fixture-pass",
        "[gate]\nmax_perplexity = 400\nmax_latency_ms = 0\nbeat_baseline = false",
    )
    run_dir, models = tmp / "run", tmp / "models"
    code = main(
        ["pipeline", str(config), "--run-dir", str(run_dir), "--models-dir", str(models)],
        prog="textgamegen train",
    )
    return {"code": code, "config": config, "run": run_dir, "models": models, "tmp": tmp}


def test_pipeline_registers_a_complete_model_dir(trained) -> None:
    assert trained["code"] == 0
    model = trained["models"] / "fixture-pass"
    for name in (
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "metrics.json",
        "lineage.json",
        "README.md",
    ):
        assert (model / name).is_file(), name
    assert not list(model.glob("*.bin"))
    metrics = json.loads((model / "metrics.json").read_text())
    # A tiny model after 30 steps: far better than uniform over its 600-token vocabulary.
    assert 1 < metrics["perplexity"] < 400
    assert set(metrics["perplexity_per_tag"]) == {"action", "dialogue", "quest"}
    assert set(metrics["baseline"]["perplexity_per_tag"]) == {"action", "dialogue", "quest"}
    assert metrics["latency_ms_median"] > 0 and metrics["tokens_per_s"] > 0
    assert all(len(v) == 1 for v in metrics["samples"].values())
    lineage = json.loads((model / "lineage.json").read_text())
    assert lineage["base"] == "scratch:toy"
    assert lineage["command"].startswith("textgamegen train pipeline")
    assert len(lineage["corpus_sha256"]) == 64
    assert {"torch", "transformers"} <= set(lineage["packages"])
    generation = json.loads((model / "generation_config.json").read_text())
    assert generation["top_k"] == 50 and generation["eos_token_id"] is not None
    card = (model / "README.md").read_text()
    assert "bigram baseline" in card and "lantern-keeper" in card
    assert (trained["run"] / "finetune" / "curve.png").stat().st_size > 1000


def test_special_tokens_are_in_the_registered_tokenizer(trained) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(trained["models"] / "fixture-pass")
    assert tokenizer.eos_token == tokenizer.pad_token == "<|endoftext|>"
    ids = tokenizer("<|quest|> The tide is coming in fast. <|endoftext|>")["input_ids"]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    assert tokens[0] == "<|quest|>" and tokens[-1] == "<|endoftext|>"


def test_rerun_with_unchanged_inputs_skips_every_stage(
    trained, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(stage: str) -> Callable[[pipeline.Run], pipeline.Record]:
        def run(_run: pipeline.Run) -> pipeline.Record:
            raise AssertionError(f"{stage} ran again")

        return run

    # Every stage that can be skipped refuses to run (validate and gate always run: they
    # only read what is there).
    skippable = tuple(
        replace(stage, run=refuse(stage.name)) if stage.current is not None else stage
        for stage in pipeline.STAGES
    )
    monkeypatch.setattr(pipeline, "STAGES", skippable)
    capsys.readouterr()
    code = main(
        [
            "pipeline",
            str(trained["config"]),
            "--run-dir",
            str(trained["run"]),
            "--models-dir",
            str(trained["models"]),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    for stage in (
        "corpus: unchanged, skipped",
        "finetune: unchanged, skipped",
        "evaluate: unchanged, skipped",
        "holds these weights and figures, skipped",
    ):
        assert stage in out


def test_a_strict_gate_refuses_and_does_not_register(trained, capsys) -> None:
    config = _config(
        trained["tmp"],
        "fixture-strict",
        "[gate]\nmax_perplexity = 1.5\nmax_latency_ms = 0\nbeat_baseline = false",
    )
    code = main(
        [
            "pipeline",
            str(config),
            "--run-dir",
            str(trained["run"]),
            "--models-dir",
            str(trained["models"]),
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "gate failed: test perplexity" in captured.err and "max_perplexity 1.5" in captured.err
    assert not (trained["models"] / "fixture-strict").exists()
    assert (trained["run"] / "finetune" / "model" / "model.safetensors").is_file()


def test_registered_model_is_listed_and_generates(trained, monkeypatch) -> None:
    monkeypatch.setenv("TEXTGAMEGEN_MODELS_DIR", str(trained["models"]))
    from textgamegen.models.registry import find_model

    info = find_model("fixture-pass")
    assert info is not None and info.source == "user"
    assert info.metrics["perplexity"] > 1
    from textgamegen.models.loader import load_generator

    generator = load_generator("fixture-pass", device="cpu")
    assert generator is not None
