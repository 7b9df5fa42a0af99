"""Stage 6, register: copy a model that passed the gate into a models directory as a new
version of its name (``textgamegen/models/versions.py``): the candidate, and production too
when ``[register] promote`` is on (the default). Earlier versions stay, the last
``[register] keep_versions`` of them, and ``textgamegen models rollback NAME`` brings the
one before back. The game's own ``assets/models`` is the exception: a release ships one
version per model as a plain folder, so registering there replaces that folder whole.

The version's folder (``<models dir>/.versions/<name>/<N>/``, MODEL_API.md) gets, for a
full model, the config, the safetensors weights (optionally converted to fp16), the tokenizer and a
generation_config.json with the game's sampling defaults; for a LoRA adapter, the adapter
(``adapter_config.json``, ``adapter_model.safetensors`` with the special tokens' rows,
optionally fp16), ``base.json`` (which base, by sha256) and the tokenizer, and never a
config.json or model.safetensors: the game merges it into the base at load. Both get
metrics.json, lineage.json and the model card. The copy is made beside the versions and
renamed into place, so a failed or killed copy never leaves half a model, and production
changes only by flipping the name's link. ``max_weights_mb`` bounds
the weights file that is registered (the adapter's, for an adapter).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from textgamegen.atomic import replace_dir, write_atomic
from textgamegen.models.versions import DEFAULT_KEEP, new_version

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
)
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "base.json")


class RegisterError(RuntimeError):
    """The model cannot be registered; the message says why."""


def game_generation_config(config: dict) -> dict:
    """generation_config.json: the game's sampling defaults and the end-of-text ids."""
    from textgamegen.config import SamplingSettings

    sampling = SamplingSettings()
    eos = config.get("eos_token_id")
    return {
        "do_sample": sampling.do_sample,
        "top_k": sampling.top_k,
        "top_p": sampling.top_p,
        "temperature": sampling.temperature,
        "repetition_penalty": sampling.repetition_penalty,
        "max_new_tokens": sampling.max_new_tokens,
        "bos_token_id": eos,
        "eos_token_id": eos,
        "pad_token_id": config.get("pad_token_id", eos),
    }


def copy_weights(source: Path, target: Path, dtype: str) -> None:
    """Copy a safetensors file, converting floating tensors to fp16 when asked (safetensors
    load and save: nothing is unpickled)."""
    if dtype == "float32":
        shutil.copy2(source, target)
        return
    import torch
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(source))
    halved = {
        k: (v.to(torch.float16) if v.is_floating_point() else v).contiguous()
        for k, v in tensors.items()
    }
    save_file(halved, str(target), metadata={"format": "pt"})


def register_model(
    model_dir: Path,
    models_dir: Path,
    name: str,
    metrics: dict,
    lineage: dict,
    card: str,
    dtype: str = "float32",
    max_weights_mb: float = 0.0,
    extra_files: tuple[Path, ...] = (),
    promote: bool = True,
    keep: int = DEFAULT_KEEP,
) -> Path:
    """Install a model directory as the next version of ``models_dir/name``.

    Args:
        model_dir: the fine-tuned HF directory (config, safetensors, tokenizer), or a LoRA
            adapter directory (adapter files, base.json, tokenizer).
        models_dir: the registry folder (user models dir, or assets/models to ship).
        name: the registry name.
        metrics: written as metrics.json.
        lineage: written as lineage.json.
        card: written as README.md.
        dtype: float32, or float16 to halve the weights.
        max_weights_mb: refuse a bigger weights file, the adapter's for an adapter (0: no
            bound).
        extra_files: copied in beside the model as they are (the corpus's cast list).
        promote: make it production at once (else it is the candidate; the first version
            of a name is production either way).
        keep: versions kept (production and the candidate beyond these).

    Returns:
        The registered version's folder (its name is the version number); in the shipped
        ``assets/models`` (``ships``), the model's plain folder.

    Raises:
        RegisterError: missing files or weights over the size bound.
    """
    adapter = (model_dir / "adapter_config.json").is_file()
    needed = (
        [model_dir / f for f in ADAPTER_FILES]
        if adapter
        else [model_dir / "model.safetensors", model_dir / "config.json"]
    )
    for path in (*needed, model_dir / "tokenizer.json"):
        if not path.is_file():
            raise RegisterError(f"{path}: missing; cannot register {model_dir}")
    weights = needed[1] if adapter else needed[0]
    shipping = ships(models_dir)
    with (
        replace_dir(models_dir / name)
        if shipping
        else new_version(models_dir, name, promote=promote, keep=keep)
    ) as version:
        staging = version if isinstance(version, Path) else version.path
        copy_weights(weights, staging / weights.name, dtype)
        size_mb = (staging / weights.name).stat().st_size / 1e6
        if max_weights_mb and size_mb > max_weights_mb:
            raise RegisterError(
                f"{name}: {weights.name} is {size_mb:.1f} MB as {dtype}, over "
                f"the {max_weights_mb:g} MB bound"
            )
        if adapter:
            for file in ("adapter_config.json", "base.json"):
                shutil.copy2(model_dir / file, staging / file)
        else:
            config = json.loads((model_dir / "config.json").read_text())
            config["dtype"] = dtype
            write_atomic(staging / "config.json", json.dumps(config, indent=2) + "\n")
            write_atomic(
                staging / "generation_config.json",
                json.dumps(game_generation_config(config), indent=2) + "\n",
            )
        for file in TOKENIZER_FILES:
            if (model_dir / file).is_file():
                shutil.copy2(model_dir / file, staging / file)
        for extra in extra_files:
            shutil.copy2(extra, staging / extra.name)
        # Each file is whole on disk (fsynced) before the folder is renamed into place.
        for file, record in (("metrics.json", metrics), ("lineage.json", lineage)):
            write_atomic(staging / file, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
        write_atomic(staging / "README.md", card)
    if isinstance(version, Path):
        return models_dir / name
    assert version.final is not None
    return version.final


def ships(models_dir: Path) -> bool:
    """Whether ``models_dir`` is the game's own ``assets/models``. A release ships one
    version of each model as a plain folder, which every checkout and the wheel read as it
    is, so registering there replaces the folder whole (in one exchange) instead of adding
    a version."""
    from textgamegen import paths

    try:
        return Path(models_dir).resolve() == paths.shipped_models_dir().resolve()
    except OSError:
        return False
