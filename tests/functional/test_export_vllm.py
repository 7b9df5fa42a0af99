"""``textgamegen export-vllm``: an adapter with trained tag rows becomes one plain folder.

vLLM refuses adapters with PEFT's ``trainable_token_indices``, which is how our LoRA
adapters train the tags' rows. The export must give a folder that transformers loads from
safetensors alone, with the tags in its tokenizer, and that computes exactly the logits of
the model the game plays (the adapter merged into its base). vLLM itself is not installed
here; this checks the folder it would load.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from textgamegen.__main__ import main
from textgamegen.models.adapters import base_reference
from textgamegen.models.loader import load_generator
from textgamegen.models.random_model import build_random_model
from textgamegen.narration.causal_lm import CausalLMGenerator
from textgamegen.text.tags import SPECIAL_TOKENS, TAG_TOKENS

PROMPT = "<|action|> You push open the door and step into the hall. <|endoftext|><|quest|>"


def _logits(model: torch.nn.Module, tokenizer: Any, text: str = PROMPT) -> torch.Tensor:
    ids = tokenizer.encode(text, add_special_tokens=False)
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0].float()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("export")


@pytest.fixture(autouse=True)
def _cache(built: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Merged adapters go to a test folder, not the player's cache."""
    monkeypatch.setenv("TEXTGAMEGEN_CACHE_DIR", str(built / "cache"))


@pytest.fixture(scope="module")
def adapter(built: Path) -> tuple[Path, Path]:
    """A LoRA adapter on a tiny random Llama, shaped as training writes it, with random
    (non-zero) LoRA weights and tag rows, so the merge changes the model."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.finetune import with_lora

    tmp_path = built
    base = build_random_model(tmp_path / "base", shape="toy", arch="llama")
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = AutoModelForCausalLM.from_pretrained(str(base), use_safetensors=True)
    peft_model = with_lora(
        model, tokenizer, SimpleNamespace(lora_r=4, lora_alpha=8, lora_dropout=0.0)
    )
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in peft_model.parameters():
            if parameter.requires_grad:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    folder = tmp_path / "adapter"
    peft_model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    (folder / "base.json").write_text(json.dumps(base_reference(str(base))))
    assert json.loads((folder / "adapter_config.json").read_text())["trainable_token_indices"]
    return base, folder


def test_an_adapter_exports_to_a_plain_folder_with_the_game_models_logits(
    adapter: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base, folder = adapter
    out = tmp_path / "narrator-vllm"
    assert main(["export-vllm", str(folder), str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"vllm serve {out} --served-model-name narrator" in printed
    assert "openai:http://GPU-HOST:8000/v1#narrator" in printed

    names = {path.name for path in out.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "export.json"} <= names
    assert "adapter_config.json" not in names  # nothing vLLM would take for an adapter
    assert not [name for name in names if name.endswith((".bin", ".pt", ".pth", ".pkl"))]
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and "auto_map" not in config

    exported_tokenizer = AutoTokenizer.from_pretrained(str(out), local_files_only=True)
    for token in SPECIAL_TOKENS:  # each tag is one special token, not pieces of text
        assert len(exported_tokenizer.encode(token, add_special_tokens=False)) == 1, token
    assert set(TAG_TOKENS) <= set(exported_tokenizer.all_special_tokens)
    assert exported_tokenizer.eos_token == "<|endoftext|>"
    ends = json.loads((out / "generation_config.json").read_text())["eos_token_id"]
    end = exported_tokenizer.convert_tokens_to_ids("<|endoftext|>")
    assert end == ends or end in ends  # a line's end stops vLLM too
    assert not {"temperature", "top_p", "top_k"} & set(
        json.loads((out / "generation_config.json").read_text())
    )

    exported = AutoModelForCausalLM.from_pretrained(
        str(out), local_files_only=True, use_safetensors=True, trust_remote_code=False
    )
    # The game in float32 (on a CPU with fast bf16 "auto" would pick bf16).
    game = load_generator(str(folder), device="cpu", dtype="float32", warm_up=False)
    assert isinstance(game, CausalLMGenerator)
    expected = _logits(game.model, game.tokenizer)
    torch.testing.assert_close(
        _logits(exported, exported_tokenizer), expected, atol=1e-5, rtol=1e-5
    )
    # The adapter mattered: the bare base computes other logits, and the tag rows moved.
    plain = AutoModelForCausalLM.from_pretrained(str(base), use_safetensors=True)
    assert (_logits(plain, exported_tokenizer) - expected).abs().max() > 1e-2
    tag = exported_tokenizer.convert_tokens_to_ids("<|action|>")
    assert not torch.equal(
        exported.get_input_embeddings().weight[tag], plain.get_input_embeddings().weight[tag]
    )

    record = json.loads((out / "export.json").read_text())
    assert record["kind"] == "adapter (merged)" and record["max_logit_difference"] < 1e-4
    assert record["tags"]["<|action|>"] == tag


def test_an_existing_folder_is_kept_unless_forced(
    adapter: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _base, folder = adapter
    out = tmp_path / "taken"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    assert main(["export-vllm", str(folder), str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (out / "mine.txt").read_text() == "keep me"
    assert main(["export-vllm", str(folder), str(out), "--force", "--dtype", "bfloat16"]) == 0
    assert not (out / "mine.txt").exists()
    assert json.loads((out / "config.json").read_text())["dtype"] == "bfloat16"


def test_a_plain_model_folder_and_bad_names_are_handled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from transformers import AutoTokenizer

    model = build_random_model(tmp_path / "gpt2", shape="toy")
    # A base whose eos is not the corpus's line end (as SmolLM2-Instruct's <|im_end|>).
    tokenizer = AutoTokenizer.from_pretrained(str(model))
    tokenizer.eos_token = "<|quest|>"
    tokenizer.save_pretrained(str(model))
    out = tmp_path / "gpt2-vllm"
    assert main(["export-vllm", str(model), str(out), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["kind"] == "model" and record["architecture"] == "GPT2LMHeadModel"
    assert record["max_logit_difference"] < 1e-4
    ends = json.loads((out / "generation_config.json").read_text())["eos_token_id"]
    assert sorted(ends) == sorted([record["tags"]["<|endoftext|>"], record["tags"]["<|quest|>"]])
    assert main(["export-vllm", "template", str(tmp_path / "t")]) == 2
    assert "no weights to export" in capsys.readouterr().err
    assert main(["export-vllm", str(tmp_path / "missing"), str(tmp_path / "m")]) == 2
    assert "no such model directory" in capsys.readouterr().err


# -- transformers 4.x readers (vLLM before transformers 5) --------------------------------

TRANSFORMERS_4_ENV = "TEXTGAMEGEN_TRANSFORMERS4_PYTHON"
"""Names a Python whose transformers is 4.x (see README: a throwaway venv with
transformers==4.57.* and the shared venv's torch); the 4.x reading test needs it."""

READ_WITH_4 = """
import json, sys
import torch, transformers
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer
folder, probe, expected = sys.argv[1], sys.argv[2], sys.argv[3]
options = dict(local_files_only=True, trust_remote_code=False)
tokenizer = AutoTokenizer.from_pretrained(folder, **options)
model = AutoModelForCausalLM.from_pretrained(
    folder, use_safetensors=True, torch_dtype=torch.float32, **options
).eval()
ids = tokenizer.encode(probe, add_special_tokens=False)
with torch.no_grad():
    logits = model(input_ids=torch.tensor([ids])).logits[0].float()
print(json.dumps({
    "version": transformers.__version__,
    "rope_theta": model.config.rope_theta,
    "ids": ids,
    "tags": [tokenizer.convert_tokens_to_ids(t) for t in sys.argv[4:]],
    "special": sorted(tokenizer.all_special_tokens),
    "difference": float((logits - load_file(expected)["logits"]).abs().max()),
}))
"""


@pytest.fixture(scope="module")
def smollm_shaped(built: Path) -> tuple[Path, Path]:
    """A tiny Llama with SmolLM2's RoPE base (100,000, not transformers' default 10,000),
    exported; and the game model's logits on the probe."""
    from safetensors.torch import save_file

    from textgamegen.models.vllm_export import PROBE, export_for_vllm

    base = build_random_model(built / "rope-base", shape="toy", arch="llama")
    config = json.loads((base / "config.json").read_text())
    config["rope_parameters"]["rope_theta"] = 100_000.0
    (base / "config.json").write_text(json.dumps(config))
    out = built / "rope-vllm"
    export_for_vllm(str(base), out)
    game = load_generator(str(base), device="cpu", dtype="float32", warm_up=False)
    assert isinstance(game, CausalLMGenerator)
    expected = built / "rope-logits.safetensors"
    save_file({"logits": _logits(game.model, game.tokenizer, PROBE).contiguous()}, expected)
    return out, expected


def test_the_export_carries_the_fields_transformers_4_reads(
    smollm_shaped: tuple[Path, Path],
) -> None:
    out, _expected = smollm_shaped
    config = json.loads((out / "config.json").read_text())
    assert config["rope_theta"] == 100_000.0 and config["rope_scaling"] is None
    assert config["rope_parameters"]["rope_theta"] == 100_000.0, "5's field is kept"
    tokenizer = json.loads((out / "tokenizer_config.json").read_text())
    assert tokenizer["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert set(TAG_TOKENS) <= set(tokenizer["additional_special_tokens"])
    assert not isinstance(tokenizer.get("extra_special_tokens"), list)


def test_a_scaled_rope_is_written_as_4_reads_it(tmp_path: Path) -> None:
    from textgamegen.models.vllm_export import readable_by_transformers_4

    scaled = {"rope_type": "llama3", "rope_theta": 500_000.0, "factor": 8.0}
    (tmp_path / "config.json").write_text(json.dumps({"rope_parameters": scaled}))
    readable_by_transformers_4(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["rope_theta"] == 500_000.0
    assert config["rope_scaling"] == {"rope_type": "llama3", "factor": 8.0}


@pytest.mark.slow
def test_the_export_reads_the_same_under_transformers_4(
    smollm_shaped: tuple[Path, Path],
) -> None:
    """Under 4.57 the export's tokenizer did not load and RoPE was read as 10,000: the
    logits differed (by up to 2.56 on SmolLM2). Skipped unless ``TRANSFORMERS_4_ENV``
    names a Python with transformers 4.x: a skip here is not a pass."""
    import os
    import subprocess

    from textgamegen.models.vllm_export import PROBE

    python = os.environ.get(TRANSFORMERS_4_ENV)
    if not python:
        pytest.skip(f"set {TRANSFORMERS_4_ENV} to a Python with transformers 4.x (README)")
    out, expected = smollm_shaped
    answer = subprocess.run(
        [python, "-c", READ_WITH_4, str(out), PROBE, str(expected), *SPECIAL_TOKENS],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""},
    )
    assert answer.returncode == 0, answer.stderr[-3000:]
    read = json.loads(answer.stdout.strip().splitlines()[-1])
    assert read["version"].startswith("4."), read["version"]
    assert read["rope_theta"] == 100_000.0
    record = json.loads((out / "export.json").read_text())
    assert read["tags"] == [record["tags"][token] for token in SPECIAL_TOKENS]
    assert set(TAG_TOKENS) <= set(read["special"])
    assert read["difference"] <= 1e-4, read["difference"]
