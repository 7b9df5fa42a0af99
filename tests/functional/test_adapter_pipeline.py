"""The pipeline with LoRA on tiny random Llama and GPT-2 bases and a conditioned corpus.

Per base, one module-scoped run: the fixture sources built as conditioned pairs, a LoRA
fine-tune of a few steps, evaluate (per-tag perplexity and bits per byte on the targets,
grounding on held-out prompts, the base's own figures for ``beat_base``), the gate, and the
adapter registered in float16. Then the tests check what was registered and that
``train compare`` scores the adapter, the base (as a ``gguf:`` name) and a plain model on
the same test lines.
"""

from __future__ import annotations

import json

import pytest
from random_llama import build_random_llama, fixture_lines, lora_config

from training.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def trained(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"adapter-{request.param}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEXTGAMEGEN_CACHE_DIR", str(tmp / "cache"))
        if request.param == "llama":
            base = build_random_llama(tmp / "base", fixture_lines())
        else:
            from textgamegen.models.random_model import build_random_model

            base = build_random_model(tmp / "base", shape="toy", lines=fixture_lines())
        config = lora_config(tmp, f"narrator-{request.param}", base)
        run_dir, models = tmp / "run", tmp / "models"
        code = main(
            ["pipeline", str(config), "--run-dir", str(run_dir), "--models-dir", str(models)],
            prog="textgamegen train",
        )
        yield {
            "code": code,
            "kind": request.param,
            "base": base,
            "run": run_dir,
            "models": models,
            "name": f"narrator-{request.param}",
            "tmp": tmp,
            "patch": patch,
        }


def test_the_adapter_is_registered_small_and_without_a_full_model(trained) -> None:
    assert trained["code"] == 0
    registered = trained["models"] / trained["name"]
    files = {p.name for p in registered.iterdir()}
    assert {
        "adapter_config.json",
        "adapter_model.safetensors",
        "base.json",
        "tokenizer.json",
        "metrics.json",
        "lineage.json",
        "README.md",
    } <= files
    assert not {"config.json", "model.safetensors"} & files
    assert not list(registered.glob("*.bin"))
    from safetensors import safe_open

    with safe_open(str(registered / "adapter_model.safetensors"), "pt") as handle:
        dtypes = {str(handle.get_tensor(key).dtype) for key in handle.keys()}  # noqa: SIM118 - safe_open is not iterable
    assert dtypes == {"torch.float16"}
    adapter = (registered / "adapter_model.safetensors").stat().st_size
    trained_adapter = (
        (trained["run"] / "finetune" / "model" / "adapter_model.safetensors").stat().st_size
    )
    assert adapter < 30e6 and adapter < trained_adapter  # float16: about half
    reference = json.loads((registered / "base.json").read_text())
    assert reference["name"] == str(trained["base"]) and len(reference["sha256"]) == 64


def test_metrics_score_targets_per_tag_with_bits_per_byte_and_grounding(trained) -> None:
    metrics = json.loads((trained["models"] / trained["name"] / "metrics.json").read_text())
    tags = {"action", "dialogue", "quest"}
    assert set(metrics["perplexity_per_tag"]) == set(metrics["bits_per_byte_per_tag"]) == tags
    assert set(metrics["baseline"]["perplexity_per_tag"]) == tags
    assert 0 < metrics["bits_per_byte"] < 20 and metrics["test_lines_skipped"] == 0
    assert metrics["test_bytes"] > metrics["test_lines"] * 10
    # the gate's beat_base: the base before fine-tuning, on the same test lines
    base = metrics["base"]
    assert base["name"] == str(trained["base"]) and set(base["bits_per_byte_per_tag"]) == tags
    assert base["test_lines"] == metrics["test_lines"]
    assert base["test_bytes"] == metrics["test_bytes"]
    for tag in tags:
        assert metrics["bits_per_byte_per_tag"][tag] < base["bits_per_byte_per_tag"][tag]
    grounding = metrics["grounding"]
    assert grounding["generations"] == 3 and grounding["entities"] > 0
    assert 0 <= grounding["entity_share"] <= 1
    assert metrics["latency_ms_median"] > 0 and metrics["first_token_ms_median"] > 0
    assert set(metrics["samples"]) == tags
    stages = json.loads((trained["run"] / "stages.json").read_text())
    assert stages["gate"]["passed"] is True


def test_the_card_states_base_method_data_and_figures(trained) -> None:
    card = (trained["models"] / trained["name"] / "README.md").read_text()
    assert "LoRA (PEFT) r=4, alpha=8" in card
    assert "bits per byte" in card and "base `" in card
    assert "## Grounding on held-out prompts" in card
    assert "with_things" in card  # conditioning counts per source
    assert "textgamegen train pipeline" in card


def test_compare_scores_adapter_base_and_plain_model_on_the_same_lines(
    trained, capsys, monkeypatch
) -> None:
    """The base is named as a GGUF base would be; find_base/cached_base hand back the tiny
    random base directory, so the tag tokens are added to it as for SmolLM2."""
    from textgamegen.models import bases
    from textgamegen.models.random_model import build_random_model

    monkeypatch.setattr(bases, "find_base", lambda name: bases.Base(name, trained["base"]))
    monkeypatch.setattr(bases, "cached_base", lambda base, progress=None: trained["base"])
    plain = build_random_model(trained["tmp"] / "plain", shape="toy", lines=fixture_lines())
    registered = trained["models"] / trained["name"]
    capsys.readouterr()
    code = main(
        [
            "compare",
            "--corpus",
            str(trained["run"] / "corpus"),
            "--json",
            str(registered),
            "gguf:tiny-base",
            str(plain),
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    rows = {row["model"]: row for row in result["models"]}
    assert set(rows) == {str(registered), "gguf:tiny-base", str(plain)}
    assert len({row["test_bytes"] for row in rows.values()}) == 1  # same target text
    metrics = json.loads((registered / "metrics.json").read_text())
    # the registered float16 adapter scores (nearly) as the trained float32 one did
    assert rows[str(registered)]["bits_per_byte"] == pytest.approx(
        metrics["bits_per_byte"], rel=0.02
    )
    assert rows["gguf:tiny-base"]["bits_per_byte"] == pytest.approx(
        metrics["base"]["bits_per_byte"], rel=1e-3
    )
    code = main(["compare", "--corpus", str(trained["run"] / "corpus"), str(plain)])
    out = capsys.readouterr().out
    assert code == 0 and "bpb action" in out and "ppl quest" in out


def test_the_game_merges_the_adapter_in_memory_and_caches_no_copy(trained, monkeypatch) -> None:
    """Every narrator shares the cached base: neither the game nor training's reader
    (evaluation, a fine-tune from it) writes a merged float32 copy per narrator (six of
    517 MiB filled a cache to 3.1 GiB before), and both read the same weights, tensor for
    tensor."""
    import torch

    from textgamegen.models.loader import load_generator, load_weights

    cache = trained["tmp"] / "game-cache"
    monkeypatch.setenv("TEXTGAMEGEN_CACHE_DIR", str(cache))
    registered = trained["models"] / trained["name"]
    game = load_generator(str(registered), "cpu", dtype="float32", quantize="off", warm_up=False)
    assert not (cache / "merged").exists()
    _, read = load_weights(str(registered), "float32")
    assert not (cache / "merged").exists()
    played, evaluated = game.model.state_dict(), read.state_dict()
    assert played.keys() == evaluated.keys()
    assert all(torch.equal(played[key], evaluated[key]) for key in evaluated)
