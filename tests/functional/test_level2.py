"""Level 2, the whole loop on a tiny random Llama base and the fixture corpus, each step
asserted: corpus -> LoRA (a few steps) -> gate -> register (version 1, production) ->
a retrain registered as the candidate -> a scripted game with the candidate -> promote ->
rollback -> ``train runs``. ``.ci/run`` runs it with the rest of the suite.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from random_llama import build_random_llama, fixture_lines, lora_config

from textgamegen.__main__ import main as textgamegen
from textgamegen.models import registry, versions
from training.cli import main as train

pytestmark = pytest.mark.slow
# "dance": a free-form attempt, which the narrator writes (the rest is the world's text).
SCRIPT = "look\nexamine crate\ndance\nopen crate\n? room Harbour Quay\n"


def _pipeline(config: Path, run_dir: Path, models: Path, steps: int) -> int:
    return train(
        [
            "pipeline",
            str(config),
            "--run-dir",
            str(run_dir),
            "--models-dir",
            str(models),
            "--max-steps",
            str(steps),
        ],
        prog="textgamegen train",
    )


def test_train_gate_register_play_promote_rollback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TEXTGAMEGEN_CACHE_DIR", str(tmp_path / "cache"))
    models = tmp_path / "models"
    monkeypatch.setenv("TEXTGAMEGEN_MODELS_DIR", str(models))
    base = build_random_llama(tmp_path / "base", fixture_lines())

    # 1. The first model: trained, gated, registered as version 1 and production.
    first = lora_config(tmp_path, "level2", base)
    assert _pipeline(first, tmp_path / "run-1", models, 6) == 0
    said = capsys.readouterr().out
    assert "gate: pass: " in said and "register: level2 version 1 (production)" in said
    assert versions.production(models, "level2") == 1

    # 2. A retrain, gated against version 1 and registered as the candidate.
    retrain = lora_config(tmp_path, "level2-retrain", base, "promote = false\n")
    retrain.write_text(
        retrain.read_text()
        .replace('name = "level2-retrain"', 'name = "level2"')
        .replace("beat_base = true\n", "beat_base = true\ntolerance = 10\n")
    )
    assert _pipeline(retrain, tmp_path / "run-2", models, 10) == 0
    said = capsys.readouterr().out
    assert "must not be worse than the registered model's" in said
    assert "register: level2 version 2 (candidate)" in said
    assert [(v.number, v.aliases) for v in versions.list_versions(models, "level2")] == [
        (1, ("production",)),
        (2, ("candidate",)),
    ]
    candidate_gate = versions.list_versions(models, "level2")[1].lineage["gate"]
    assert candidate_gate["decision"] == "passed"
    assert candidate_gate["compared_with"]["version"] == 1

    # 3. The candidate plays a scripted game before anyone promotes it.
    script = tmp_path / "script.txt"
    script.write_text(SCRIPT)
    transcript = tmp_path / "transcript.jsonl"
    play = ["play", "--script", str(script), "--model", "level2@candidate", "--device", "cpu"]
    # --strict-model: exit 3 unless the candidate itself wrote every narration.
    code = textgamegen([*play, "--transcript", str(transcript), "--json", "--strict-model"])
    assert code == 0
    err = capsys.readouterr().err
    assert "not loaded" not in err  # no fallback to the template narrator
    steps = [json.loads(line) for line in transcript.read_text().splitlines()]
    assert [step["turn"] for step in steps][-1] == 4

    # 4. Promote: the name (what the game and serve-model load) is version 2.
    assert textgamegen(["models", "promote", "level2", "candidate"]) == 0
    assert capsys.readouterr().out.startswith("level2: production is version 2 (was 1)")
    info = registry.find_model("level2")
    assert info is not None and info.path.resolve() == versions.version_path(models, "level2", 2)

    # 5. Rollback: version 1 again.
    assert textgamegen(["models", "rollback", "level2"]) == 0
    assert capsys.readouterr().out.startswith("level2: production is version 1 (was 2)")
    assert (models / "level2").resolve() == versions.version_path(models, "level2", 1)

    # 6. Both runs are on record, with their gate and version.
    assert train(["runs", str(tmp_path / "run-1"), str(tmp_path / "run-2"), "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [(r["outcome"], r["registered_version"]) for r in runs] == [
        ("registered", 1),
        ("registered", 2),
    ]
