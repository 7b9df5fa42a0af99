"""The narrator in the layout vLLM loads: one merged model folder, tags included.

vLLM serves a LoRA adapter only when it holds nothing but ``lora_A``/``lora_B`` weights;
it refuses PEFT's ``trainable_token_indices``, with which our adapters train the rows of
the special tokens (``<|action|>``, ``<|dialogue|>``, ``<|quest|>``, ``<|endoftext|>``).
So the export writes the model exactly as the game plays it: the adapter merged into its
base (the same cached merge the game loads), the tags added to a bare base's tokenizer,
saved as ``model.safetensors`` + ``config.json`` + ``generation_config.json`` + the
tokenizer. ``vllm serve OUT --served-model-name narrator`` loads it with no
``--enable-lora`` and no remote code. Before the folder is put in place it is loaded
back from safetensors alone and must give the game model's logits.

Example::

    textgamegen export-vllm narrator /models/narrator-vllm
    textgamegen export-vllm path/to/adapter /models/narrator-vllm --dtype bfloat16

Pure Python to import; ``export_for_vllm`` imports torch and transformers inside.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from textgamegen.atomic import replace_dir
from textgamegen.endpoint import is_model_url
from textgamegen.models.bases import Progress
from textgamegen.narration.generator import GeneratorError

EXPORT_FORMAT = 1
DTYPES = ("float32", "bfloat16", "float16")
CARRIED = ("README.md", "metrics.json", "lineage.json", "base.json")
"""Our own records, copied beside the weights (vLLM ignores them)."""
LOGITS_TOLERANCE = 1e-4
"""Largest difference allowed between the game's and the reloaded float32 logits."""
PROBE = "<|action|> You push open the heavy door of the lighthouse. <|endoftext|>"
"""A line in the corpus's form, so the check goes through the tags' rows."""


@dataclass
class Exported:
    """What ``export_for_vllm`` wrote, also saved as ``export.json`` in the folder."""

    format: int
    source: str
    source_path: str
    kind: str  # "adapter (merged)", "model", "gguf base"
    architecture: str
    dtype: str
    vocab: int
    context: int
    tags: dict[str, int] = field(default_factory=dict)
    max_logit_difference: float = 0.0
    vllm_command: str = ""


def vllm_command(out: Path, served_name: str, context: int) -> str:
    """The ``vllm serve`` line for the exported folder (checked here only as text)."""
    return (
        f"vllm serve {out} --served-model-name {served_name} "
        f"--max-model-len {context} --host 0.0.0.0 --port 8000"
    )


def _source_weights(model: str, progress: Progress | None) -> tuple[str, Path, str, Path | None]:
    """(display name, folder with plain safetensors weights, kind, the adapter to merge
    into that folder in memory or None) of a model name."""
    from textgamegen.models.bases import cached_base, find_base, is_gguf
    from textgamegen.models.loader import resolve
    from textgamegen.models.registry import directory_problem

    if model in ("template",) or is_model_url(model):
        raise GeneratorError(f"{model!r} has no weights to export; name a model or a folder")
    name, path = resolve(model)
    if is_gguf(name):
        return name, cached_base(find_base(name), progress), "gguf base", None
    if path is None:
        raise GeneratorError(
            f"{model!r} is not an installed model or a model folder here "
            "(`textgamegen models` lists them)"
        )
    problem = directory_problem(path)
    if problem:
        raise GeneratorError(f"{path}: {problem}")
    if (path / "adapter_config.json").is_file():
        from textgamegen.models.adapters import base_directory

        # Merged in memory as the game does; the export is the one merged copy written.
        return name, base_directory(path, progress), "adapter (merged)", path
    return name, path, "model", None


def _logits(model: object, ids: list[int]) -> object:
    import torch

    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0].float()  # type: ignore[operator]


def export_for_vllm(
    model: str,
    out: Path,
    *,
    dtype: str = "float32",
    served_name: str = "narrator",
    force: bool = False,
    progress: Progress | None = None,
) -> Exported:
    """Write ``model`` (an installed name, a model or adapter folder, a gguf: base) to
    ``out`` as one plain model folder that vLLM (and transformers) load as it is.

    Args:
        model: what the game's ``--model`` would take, less ``template`` and ``openai:``.
        out: the folder to create; it must not exist (or be empty) unless ``force``.
        dtype: the saved weights' dtype; the check against the game model runs in float32.
        served_name: the name in the printed ``vllm serve`` command.
        force: replace an existing ``out``.
        progress: told about slow steps (unpacking a base, merging an adapter).

    Returns:
        What was written (also in ``out/export.json``).

    Raises:
        GeneratorError: an unknown model, an existing ``out``, or an export that does not
            reload to the same logits.
    """
    if dtype not in DTYPES:
        raise GeneratorError(f"dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    out = Path(out).expanduser().resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise GeneratorError(f"{out}: already exists; pick a new folder or pass --force")
    say = progress or (lambda _text: None)
    name, weights_dir, kind, adapter = _source_weights(model, progress)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    from textgamegen.models.hf import load_parts
    from textgamegen.text.tags import END, SPECIAL_TOKENS

    say(f"Loading {name} as the game does")
    # The game's own loader: the same merge, the same tags added to a bare base.
    tokenizer, game_model = load_parts(name, weights_dir, torch.float32, adapter=adapter)
    game_model.eval()
    config = game_model.config
    if getattr(config, "auto_map", None):
        raise GeneratorError(
            f"{weights_dir}: its config needs remote code (auto_map); "
            "vLLM would need --trust-remote-code, which we never use"
        )
    from textgamegen.narration.decode import context_window

    context = int(context_window(config))
    vocab = game_model.get_input_embeddings().weight.shape[0]
    tags = {token: int(tokenizer.convert_tokens_to_ids(token)) for token in SPECIAL_TOKENS}
    unknown = [
        token
        for token, index in tags.items()
        if index is None or (index == tokenizer.unk_token_id and token != tokenizer.unk_token)
    ]
    if unknown:
        raise GeneratorError(f"{weights_dir}: the tokenizer lacks {', '.join(unknown)}")
    ids = list(tokenizer.encode(PROBE, add_special_tokens=False))[:context]
    expected = _logits(game_model, ids)

    with replace_dir(out) as temp:
        say(f"Writing {dtype} safetensors to {out}")
        config.eos_token_id = tokenizer.eos_token_id
        config.pad_token_id = tokenizer.pad_token_id
        # Only the token ids: a base's sampling defaults (vLLM applies generation_config's)
        # must not override what the game asks for. A corpus line ends at <|endoftext|>,
        # which need not be the base tokenizer's eos (SmolLM2-Instruct's is <|im_end|>):
        # both end a generation, so vLLM stops there without the game's stop strings.
        ends = list(dict.fromkeys([tags[END], tokenizer.eos_token_id]))
        game_model.generation_config = GenerationConfig(
            bos_token_id=config.bos_token_id,
            eos_token_id=ends[0] if len(ends) == 1 else ends,
            pad_token_id=tokenizer.pad_token_id,
        )
        game_model.to(getattr(torch, dtype)).save_pretrained(temp, safe_serialization=True)
        tokenizer.save_pretrained(temp)
        for stray in [*temp.glob("*.bin"), *temp.glob("*.pt"), *temp.glob("*.pth")]:
            stray.unlink()  # safetensors only
        readable_by_transformers_4(temp)
        source_dir = resolve_source_dir(model)
        for record in CARRIED:
            if source_dir is not None and (source_dir / record).is_file():
                shutil.copy2(source_dir / record, temp / record)

        say("Loading the export back from safetensors alone")
        reloaded = AutoModelForCausalLM.from_pretrained(
            str(temp),
            local_files_only=True,
            use_safetensors=True,
            trust_remote_code=False,
            dtype=torch.float32,
        ).eval()
        back = AutoTokenizer.from_pretrained(
            str(temp), local_files_only=True, trust_remote_code=False
        )
        if list(back.encode(PROBE, add_special_tokens=False)) != ids:
            raise GeneratorError(f"{out}: the exported tokenizer reads the tags differently")
        difference = float((_logits(reloaded, ids) - expected).abs().max())  # type: ignore[operator]
        tolerance = LOGITS_TOLERANCE if dtype == "float32" else 0.1 * float(expected.abs().max())  # type: ignore[attr-defined]
        if not difference <= tolerance:
            raise GeneratorError(
                f"{out}: the export's logits differ from the game model's "
                f"by {difference:.3g} (allowed {tolerance:.3g})"
            )
        exported = Exported(
            format=EXPORT_FORMAT,
            source=name,
            source_path=str(adapter or weights_dir),
            kind=kind,
            architecture=",".join(
                getattr(config, "architectures", None) or [type(game_model).__name__]
            ),
            dtype=dtype,
            vocab=int(vocab),
            context=context,
            tags=tags,
            max_logit_difference=difference,
            vllm_command=vllm_command(out, served_name, context),
        )
        (temp / "export.json").write_text(
            json.dumps(asdict(exported), indent=2) + "\n", encoding="utf-8"
        )
    return exported


TOKENIZER_CLASS_4 = "PreTrainedTokenizerFast"
"""The tokenizer class both transformers 4.x and 5 load from ``tokenizer.json`` (5 writes
"TokenizersBackend", which 4.x does not know)."""


def _read_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise GeneratorError(f"{path.name}: not a JSON object")
    return data


def readable_by_transformers_4(folder: Path) -> None:
    """Add what transformers 4.x readers (vLLM before transformers 5) look for to the
    ``config.json`` and ``tokenizer_config.json`` that transformers 5 wrote, keeping 5's.

    Under 4.57 the export read RoPE's base as 10,000 instead of the model's 100,000
    (5 writes it only inside ``rope_parameters``; logits differed by up to 2.56 on
    SmolLM2), and its tokenizer did not load at all ("TokenizersBackend does not exist";
    4.x also wants the tags as ``additional_special_tokens``, not a list under
    ``extra_special_tokens``).
    """
    config_file = folder / "config.json"
    config = _read_json(config_file)
    rope = config.get("rope_parameters")
    if isinstance(rope, dict) and "rope_theta" in rope:
        config["rope_theta"] = rope["rope_theta"]
        # 4.x names a scaled RoPE (llama3, yarn, ...) in ``rope_scaling``, without the base.
        scaling = {key: value for key, value in rope.items() if key != "rope_theta"}
        plain = scaling.get("rope_type", "default") == "default" and len(scaling) <= 1
        config["rope_scaling"] = None if plain else scaling
    config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    tokenizer_file = folder / "tokenizer_config.json"
    if not tokenizer_file.is_file():
        return
    tokenizer = _read_json(tokenizer_file)
    if tokenizer.get("tokenizer_class") in (None, "TokenizersBackend"):
        tokenizer["tokenizer_class"] = TOKENIZER_CLASS_4
    extra = tokenizer.get("extra_special_tokens")
    if isinstance(extra, list):  # 4.x reads this key as a {name: token} mapping
        del tokenizer["extra_special_tokens"]
        known = list(tokenizer.get("additional_special_tokens") or [])
        tokenizer["additional_special_tokens"] = known + [t for t in extra if t not in known]
    tokenizer_file.write_text(
        json.dumps(tokenizer, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )


def resolve_source_dir(model: str) -> Path | None:
    """The folder the player named (for its model card and records), if any."""
    from textgamegen.models.loader import resolve

    try:
        return resolve(model)[1]
    except GeneratorError:
        return None
