"""LoRA adapters: a small registered model that names its base, merged into it in memory.

A model trained with ``--method lora`` is registered as the PEFT adapter
(``adapter_config.json``, ``adapter_model.safetensors``, which also holds the trained rows
of the special tokens), its tokenizer, and ``base.json``: the base's name and sha256. At
load the base is found (a GGUF base is unpacked into the cache the first time), checked
against that hash, and the adapter applied and merged in memory (``merged_model``): every
narrator shares the one cached base, and the cache holds no merged copy per narrator (the
game, training, the benches and the vLLM export alike; ``models.cache`` removes the
copies older versions wrote).

Pure Python to import; ``merged_model`` imports torch, transformers and peft inside.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textgamegen import checksum
from textgamegen.models.bases import Progress, cached_base, find_base
from textgamegen.narration.generator import GeneratorError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def is_adapter(directory: Path) -> bool:
    return (directory / "adapter_config.json").is_file()


def base_reference(base: str) -> dict[str, str]:
    """{"name", "sha256"} of a base as named at training time: a GGUF file's hash, or a
    local directory's model.safetensors hash ("" for a hub id, which has no local file)."""
    if base.startswith("gguf:"):
        found = find_base(base)
        return {"name": base, "sha256": found.sha256 or checksum.sha256(found.path), "kind": "gguf"}
    weights = Path(base).expanduser() / "model.safetensors"
    if weights.is_file():
        return {"name": base, "sha256": checksum.sha256(weights), "kind": "directory"}
    return {"name": base, "sha256": "", "kind": "hub"}


def read_reference(adapter: Path) -> dict[str, str]:
    path = adapter / "base.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GeneratorError(f"{adapter}: an adapter without base.json (which base?)") from None
    except (OSError, ValueError) as error:
        raise GeneratorError(f"{path}: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise GeneratorError(f"{path}: needs a base name")
    return data


def base_directory(adapter: Path, progress: Progress | None = None) -> Path:
    """The unpacked base an adapter was trained on, checked against its sha256.

    Raises:
        GeneratorError: the base is missing (with the command that installs it) or is not
            the one the adapter was trained on.
    """
    reference = read_reference(adapter)
    name, expected = reference["name"], str(reference.get("sha256", ""))
    if name.startswith("gguf:"):
        found = find_base(name)
        if expected and found.sha256 and found.sha256 != expected:
            raise GeneratorError(
                f"{adapter}: trained on {name} with sha256 {expected[:16]}..., but the "
                f"installed base is {found.sha256[:16]}...; install the matching base"
            )
        found = type(found)(found.name, found.path, expected or found.sha256)
        return cached_base(found, progress)
    directory = Path(name).expanduser()
    if not directory.is_absolute():
        directory = (adapter / name).resolve() if (adapter / name).is_dir() else directory
    weights = directory / "model.safetensors"
    if not weights.is_file():
        raise GeneratorError(f"{adapter}: its base {name} is not here (no {weights})")
    if expected and checksum.sha256(weights) != expected:
        raise GeneratorError(
            f"{adapter}: the base at {directory} is not the one it was "
            f"trained on (sha256 differs from {expected[:16]}...)"
        )
    return directory


def merged_model(
    adapter: Path, base: Path, before_merge: Callable[[Any], None] | None = None
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """The adapter's tokenizer and its base with the adapter applied and merged, in float32,
    in memory: what ``merge`` writes, and what the game loads without writing it.

    ``before_merge`` is given the PEFT model before its adapter is merged in (the 4-bit
    decoder keeps the base and the adapter apart).

    Raises:
        GeneratorError: the adapter does not fit its base.
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(adapter), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            str(base),
            local_files_only=True,
            use_safetensors=True,
            dtype=torch.float32,
            trust_remote_code=False,
        )
        if len(tokenizer) != model.get_input_embeddings().weight.shape[0]:
            model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        model = PeftModel.from_pretrained(model, str(adapter), is_trainable=False)
        if before_merge is not None:
            before_merge(model)
        model = model.merge_and_unload()
    except GeneratorError:
        raise
    except Exception as error:  # noqa: BLE001 - peft and transformers raise many kinds
        raise GeneratorError(
            f"{adapter}: the adapter does not fit its base {base}: "
            f"{type(error).__name__}: {str(error)[:300]}"
        ) from None
    model.config.eos_token_id = tokenizer.eos_token_id
    model.config.pad_token_id = tokenizer.pad_token_id
    return tokenizer, model
