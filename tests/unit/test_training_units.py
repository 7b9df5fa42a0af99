"""Fine-tune, evaluate, gate and CLI pieces that need no training run."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from training.baseline import Bigram
from training.cli import main
from training.config import ConfigError, FinetuneConfig, GateConfig
from training.finetune import group_texts
from training.gate import check_gate
from training.modelcard import render_card
from training.modelsizes import SIZES, parse_scratch


def test_group_texts_packs_lines_into_full_blocks() -> None:
    blocks = group_texts([[1, 2, 3], [4, 5], [6, 7, 8, 9], [10]], 4)
    assert blocks == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert group_texts([[1, 2]], 8) == [[1, 2]]  # a tiny corpus still gives one block


def test_scratch_sizes() -> None:
    assert parse_scratch("scratch:small") == SIZES["small"]
    assert parse_scratch("gpt2") is None
    with pytest.raises(ValueError, match="unknown size 'huge'"):
        parse_scratch("scratch:huge")


def test_finetune_config_rejects_bad_values() -> None:
    with pytest.raises(ConfigError, match=r"finetune.precision"):
        FinetuneConfig(precision="fp8")
    with pytest.raises(ConfigError, match=r"finetune.effective_batch"):
        FinetuneConfig(effective_batch=0)


def test_bigram_baseline_prefers_seen_pairs() -> None:
    model = Bigram(vocab_size=10).fit([[0, 1, 2, 3]] * 20)
    lam = model.tune([[0, 1, 2, 3]])
    assert lam == 0.95
    seen, n = model.nll([0, 1, 2, 3])
    unseen, _ = model.nll([0, 3, 2, 1])
    assert n == 3 and seen < unseen
    assert math.exp(seen / n) < 1.2


METRICS = {
    "perplexity": 40.0,
    "perplexity_per_tag": {"action": 45.0, "quest": 30.0},
    "baseline": {"kind": "bigram", "perplexity_per_tag": {"action": 300.0, "quest": 150.0}},
    "latency_ms_median": 180.0,
    "first_token_ms_median": 20.0,
    "tokens_per_s": 160.0,
    "samples": {"action": ["You open the door."]},
}


def test_gate_passes_within_bounds_and_against_the_registered_model() -> None:
    decision = check_gate(
        METRICS, GateConfig(max_perplexity=50, max_latency_ms=300), registered={"perplexity": 41.0}
    )
    assert decision.passed, decision.reasons
    assert len(decision.checks) == 5


@pytest.mark.parametrize(
    ("gate", "registered", "reason"),
    [
        (GateConfig(max_perplexity=30), None, "test perplexity 40.00 must be <= max_perplexity 30"),
        (GateConfig(), {"perplexity": 39.0}, "must not be worse than the registered model's 39.00"),
        (GateConfig(max_latency_ms=100), None, "median narration latency 180 ms must be <= 100 ms"),
        (GateConfig(max_first_token_ms=10), None, "first-token latency 20 ms must be <= 10 ms"),
    ],
)
def test_gate_fails_with_the_reason(gate, registered, reason) -> None:
    decision = check_gate(METRICS, gate, registered)
    assert not decision.passed
    assert any(reason in r for r in decision.reasons), decision.reasons


def test_gate_fails_a_model_that_does_not_beat_the_bigram() -> None:
    worse = {**METRICS, "perplexity_per_tag": {"action": 400.0, "quest": 30.0}}
    decision = check_gate(worse, GateConfig())
    assert decision.reasons == [("action perplexity 400.00 must beat the bigram baseline's 300.00")]


def test_model_card_lists_perplexity_baseline_latency_and_sources() -> None:
    card = render_card(
        "mini",
        {**METRICS, "parameters": 1000},
        {
            "command": "textgamegen train pipeline x.toml",
            "base": "scratch:toy",
            "config_text": 'name = "mini"\n',
        },
        [
            {
                "name": "novels",
                "path": "novels/*.txt",
                "format": "novel",
                "licence": "Public domain",
                "origin": "PG",
            }
        ],
    )
    assert "| action | 45.0 | 300.0 |" in card
    assert "median 180.0 ms per narration" in card
    assert "| novels | `novels/*.txt` | novel |" in card and "Public domain" in card
    assert "textgamegen train pipeline x.toml" in card and 'name = "mini"' in card


@pytest.mark.parametrize("stage", ["corpus", "finetune", "evaluate", "compare", "pipeline"])
def test_every_stage_has_help(stage, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([stage, "--help"], prog="textgamegen train")
    assert exit_info.value.code == 0
    assert f"textgamegen train {stage}" in capsys.readouterr().out


def test_bad_config_is_one_line_exit_2(tmp_path, capsys) -> None:
    (tmp_path / "bad.toml").write_text("name = 'x'\n[corpus]\nratios = 3\n")
    assert main(["corpus", str(tmp_path / "bad.toml")]) == 2
    err = capsys.readouterr().err
    assert "bad.toml" in err and "corpus.sources" in err and "Traceback" not in err


def test_missing_corpus_for_finetune_is_reported(tmp_path, capsys) -> None:
    code = main(
        [
            "finetune",
            "--corpus",
            str(tmp_path / "none"),
            "--out",
            str(tmp_path / "o"),
            "--base",
            "scratch:toy",
        ]
    )
    assert code == 2
    assert "train.txt: missing" in capsys.readouterr().err


def test_training_imports_neither_textual_nor_eager_torch() -> None:
    code = (
        "import sys, training.cli, training.pipeline, training.corpus, training.evaluate, "
        "training.finetune, training.register, training.gate; "
        "print(sorted(m for m in ('textual', 'torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out.replace("'", '"')) == []
