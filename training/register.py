"""Stage 6, register: copy a model that passed the gate into a models directory.

The directory (``<models dir>/<name>/``, MODEL_API.md) gets the config, the safetensors
weights (optionally converted to fp16), the tokenizer, a generation_config.json with the
game's sampling defaults, metrics.json, lineage.json and the model card. The copy is
made beside the target and renamed into place, so a failed copy never leaves half a model.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


class RegisterError(RuntimeError):
    """The model cannot be registered; the message says why."""


def game_generation_config(config: dict) -> dict:
    """generation_config.json: the game's sampling defaults and the end-of-text ids."""
    from textgamegen.config import SamplingSettings

    sampling = SamplingSettings()
    eos = config.get("eos_token_id")
    return {"do_sample": sampling.do_sample, "top_k": sampling.top_k, "top_p": sampling.top_p,
            "temperature": sampling.temperature,
            "repetition_penalty": sampling.repetition_penalty,
            "max_new_tokens": sampling.max_new_tokens, "bos_token_id": eos,
            "eos_token_id": eos, "pad_token_id": config.get("pad_token_id", eos)}


def copy_weights(source: Path, target: Path, dtype: str) -> None:
    """Copy model.safetensors, converting floating tensors to fp16 when asked."""
    if dtype == "float32":
        shutil.copy2(source, target)
        return
    import torch
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(source))
    halved = {k: (v.to(torch.float16) if v.is_floating_point() else v).contiguous()
              for k, v in tensors.items()}
    save_file(halved, str(target), metadata={"format": "pt"})


def register_model(model_dir: Path, models_dir: Path, name: str, metrics: dict,
                   lineage: dict, card: str, dtype: str = "float32",
                   max_weights_mb: float = 0.0) -> Path:
    """Install a model directory under ``models_dir/name``, replacing any previous one.

    Args:
        model_dir: the fine-tuned HF directory (config, safetensors, tokenizer).
        models_dir: the registry folder (user models dir, or assets/models to ship).
        name: the registry name.
        metrics: written as metrics.json.
        lineage: written as lineage.json.
        card: written as README.md.
        dtype: float32, or float16 to halve the weights.
        max_weights_mb: refuse bigger weights (0: no bound).

    Returns:
        The registered directory.

    Raises:
        RegisterError: missing files or weights over the size bound.
    """
    weights = model_dir / "model.safetensors"
    for needed in (weights, model_dir / "config.json", model_dir / "tokenizer.json"):
        if not needed.is_file():
            raise RegisterError(f"{needed}: missing; cannot register {model_dir}")
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=models_dir))
    try:
        copy_weights(weights, staging / "model.safetensors", dtype)
        size_mb = (staging / "model.safetensors").stat().st_size / 1e6
        if max_weights_mb and size_mb > max_weights_mb:
            raise RegisterError(f"{name}: weights are {size_mb:.1f} MB as {dtype}, over the "
                                f"{max_weights_mb:g} MB bound")
        config = json.loads((model_dir / "config.json").read_text())
        config["dtype"] = dtype
        (staging / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        for file in TOKENIZER_FILES:
            if (model_dir / file).is_file():
                shutil.copy2(model_dir / file, staging / file)
        (staging / "generation_config.json").write_text(
            json.dumps(game_generation_config(config), indent=2) + "\n")
        (staging / "metrics.json").write_text(
            json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (staging / "lineage.json").write_text(
            json.dumps(lineage, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (staging / "README.md").write_text(card, encoding="utf-8")
        target = models_dir / name
        old = models_dir / f".{name}.old"
        if old.exists():
            shutil.rmtree(old)
        if target.exists():
            target.rename(old)
        staging.rename(target)
        if old.exists():
            shutil.rmtree(old)
        return target
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
