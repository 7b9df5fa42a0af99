"""Load a transformers model and tokenizer safely and build the GPT-2 generator.

Safetensors only (``use_safetensors=True``), never ``trust_remote_code``, local files
only for directories, and every failure turned into a ``GeneratorError`` that names the
directory. Imports torch and transformers; the loader imports this module lazily.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from textgamegen.config import QUANTIZE, SamplingSettings, one_of
from textgamegen.models import hub
from textgamegen.models.load_report import explain
from textgamegen.narration.causal_lm import OOM_NOTICE, CausalLMGenerator
from textgamegen.narration.device import (
    ThreadChoice,
    quantize_int8,
    resolve_device,
    resolve_dtype,
    set_cpu_threads,
)
from textgamegen.narration.generator import GeneratorError
from textgamegen.narration.int4_weights import (
    FourBitParts,
    attach,
    parts_of_adapter,
    parts_of_model,
)
from textgamegen.narration.int4_weights import kernel_available as int4_kernel_available
from textgamegen.narration.int8_weights import (
    PROBE_TEXT,
    choose_int8,
    kernel_available,
    quantize_weights,
)
from textgamegen.narration.llama_step import LlamaStep
from textgamegen.text.prompts import PromptTemplates

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def _quiet_transformers() -> None:
    # Progress bars and load reports go to stderr and would corrupt the TUI.
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()


def _load_parts(
    source: str, local: bool, dtype: torch.dtype
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(
        source, local_files_only=local, trust_remote_code=False
    )
    model = AutoModelForCausalLM.from_pretrained(
        source, local_files_only=local, trust_remote_code=False, use_safetensors=True, dtype=dtype
    )
    rows = model.get_input_embeddings().weight.shape[0]
    if add_tags(tokenizer) and len(tokenizer) > rows:
        # A bare pretrained base (gguf:..., a hub id) has never seen our tags: give them
        # rows so the prompt can be read at all. They are untrained; that is the base.
        # Without mean_resizing the rows come from the model's own (seeded) init, so
        # fine-tune runs stay reproducible.
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    return tokenizer, model


def add_tags(tokenizer: PreTrainedTokenizerBase) -> int:
    """Give a tokenizer our tag tokens and ``<|endoftext|>`` as its end (and its pad,
    when it has none): one definition for the game, evaluation and the fine-tune.

    Returns:
        How many tokens were added (the embeddings must grow by as many).
    """
    from tokenizers import AddedToken

    from textgamegen.text.tags import END, TAG_TOKENS

    vocab = tokenizer.get_vocab()
    missing = [token for token in TAG_TOKENS if token not in vocab]
    added = 0
    if missing:
        added += tokenizer.add_special_tokens(
            {
                "additional_special_tokens": [
                    AddedToken(token, rstrip=True, special=True) for token in missing
                ]
            }
        )
    if END not in vocab:
        added += tokenizer.add_special_tokens(
            {"eos_token": AddedToken(END, lstrip=True, special=True)}
        )
    if missing and tokenizer.eos_token != END:
        tokenizer.eos_token = END
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return added


def load_parts(
    name: str,
    path: Path | None,
    dtype: torch.dtype,
    hub_help: str = "",
    adapter: Path | None = None,
    four_bit: list[FourBitParts] | None = None,
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """The tokenizer (with our tags) and the model, on the CPU in ``dtype``, checked.

    The one definition of reading a model, shared by the game (``load``), evaluation and
    the fine-tune (through ``loader.load_weights``).

    Args:
        name: the display name, or the hub id when ``path`` is None.
        path: a model directory (an unpacked GGUF base, a merged adapter, ...) or None.
        dtype: the weights' dtype.
        hub_help: the message for a hub id that cannot be fetched.
        adapter: a LoRA adapter directory to merge into ``path`` (its base) in memory.
        four_bit: given, the 4-bit parts of the projections are appended to it (read
            before the adapter is merged, or from the model's own weights).

    Raises:
        GeneratorError: with a message for the player.
    """
    _quiet_transformers()
    if adapter is not None and path is not None:
        from textgamegen.models.adapters import merged_model

        def collect(peft: object) -> None:
            if four_bit is not None:
                four_bit.append(parts_of_adapter(peft))  # type: ignore[arg-type]

        tokenizer, model = merged_model(adapter, path, collect if four_bit is not None else None)
        add_tags(tokenizer)  # already there (trained with them): sets nothing, as on disk
        return tokenizer, model.to(dtype)
    source = str(path) if path is not None else name
    # Read HF_HUB_OFFLINE now: huggingface_hub reads it once, at import, which may have
    # happened before the variable was set; offline must never wait on the network.
    local = path is not None or hub.offline() or not hub.answers()  # 3 s at most, then the cache
    try:
        tokenizer, model = _load_parts(source, local, dtype)
    except Exception as error:  # noqa: BLE001 - transformers raises many kinds
        if path is None:
            detail = (str(error).strip().splitlines() or [""])[0][:200]
            raise GeneratorError(f"{hub_help} ({type(error).__name__}: {detail})") from None
        raise GeneratorError(f"{path}: the model could not be loaded: {explain(error)}") from None
    where_label = f"{path}" if path is not None else name
    vocab = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > vocab:
        raise GeneratorError(
            f"{where_label}: the tokenizer has {len(tokenizer)} tokens but the model only "
            f"{vocab} embeddings; the directory mixes two models"
        )
    if getattr(tokenizer, "eos_token_id", None) is None:
        raise GeneratorError(f"{where_label}: the tokenizer has no end-of-text token")
    if four_bit is not None:
        four_bit.append(parts_of_model(model))
    return tokenizer, model


def load(
    name: str,
    path: Path | None,
    device: str,
    sampling: SamplingSettings,
    templates: PromptTemplates,
    *,
    dtype: str = "auto",
    quantize: bool | str = "off",
    threads: int = 0,
    hub_help: str = "",
    adapter: Path | None = None,
) -> CausalLMGenerator:
    """Load a model directory (``path``) or a hub id (``name`` when ``path`` is None).

    Args:
        name: the display name (registry name, directory name or hub id).
        path: the model directory, or None for a hub id.
        device: "auto", "cpu" or "cuda".
        sampling: sampling settings.
        templates: prompt templates.
        dtype: "auto" or a dtype name.
        quantize: on the CPU, one of ``config.QUANTIZE`` (ignored on CUDA): "int8"
            weight-only, "int4" (decoding from a 4-bit base, prompts in int8), "dynamic",
            "auto" (int8 where it pays, with dtype auto) or "off".
        threads: CPU threads (0 = automatic).
        hub_help: the message for a hub id that cannot be fetched.
        adapter: a LoRA adapter to merge into ``path`` (its base) in memory.

    Returns:
        The generator, not yet warmed up.

    Raises:
        GeneratorError: with a message for the player.
    """
    _quiet_transformers()
    where = resolve_device(device)
    weights = resolve_dtype(where, dtype)
    mode = quantize_mode(quantize) if where == "cpu" else "off"
    if mode == "auto" and dtype != "auto":
        mode = "off"  # a dtype the player named is kept as named
    plain = weights
    if mode != "off":
        weights = torch.float32  # each weight is rounded to int8 once, from float32
    threads_setting = threads
    threads = set_cpu_threads(threads) if where == "cpu" else threads
    # 4 bits only where the base already is 4-bit: its grid is read before any merge.
    four_bit: list[FourBitParts] | None = [] if mode == "int4" and int4_kernel_available() else None
    tokenizer, model = load_parts(name, path, weights, hub_help, adapter, four_bit)
    parts = four_bit[0] if four_bit and four_bit[0].bases else None
    model.eval()
    notice = ""
    if where == "cuda":
        try:
            model = model.to("cuda")
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            model = model.to(device="cpu", dtype=torch.float32)
            where, notice = "cpu", OOM_NOTICE
            threads = set_cpu_threads(threads)
    why_not = ""
    if mode == "auto":
        probe = list(tokenizer.encode(PROBE_TEXT, add_special_tokens=False))
        why_not = choose_int8(model, probe, plain)
        mode = "off" if why_not else "int8"
    elif mode in ("int8", "int4"):
        plain_name = str(plain).replace("torch.", "")
        if kernel_available():
            quantize_weights(model)
            if mode == "int4" and parts is not None:
                attach(model, parts)
            elif mode == "int4":
                four_why = (
                    "this torch has no 4-bit kernel for the CPU"
                    if four_bit is None
                    else "the model's weights are not on a 4-bit grid"
                )
                notice = f"int4 was asked for, but {four_why}: the model decodes in int8."
                mode = "int8"
        else:
            why_not = "this torch has no int8 kernel for the CPU"
            notice = f"int8 was asked for, but {why_not}: the model runs in {plain_name}."
            model.to(plain)
            mode = "off"
    elif mode == "dynamic":
        model = quantize_int8(model)
    generator = CausalLMGenerator(model, tokenizer, name, where, sampling, templates, path)
    generator.quantized = mode != "off"
    generator.int8_declined = why_not
    generator.threads = threads
    if where == "cpu" and threads_setting <= 0:
        # Automatic threads follow the machine: all the cores while nothing crowds them,
        # fewer when something does (``device.ThreadChoice``).
        generator.thread_choice = ThreadChoice()
    if mode in ("int8", "int4"):
        # One step of decoding without transformers' per-layer Python (None where the
        # model is not a plain Llama).
        generator.decode_step = LlamaStep.of(model)
        generator.dtype = mode
    elif mode == "dynamic":
        generator.dtype = "int8-dynamic"
    generator.notice = notice
    return generator


def quantize_mode(quantize: bool | str) -> str:
    """The ``quantize`` setting as one of ``config.QUANTIZE`` (True, as older callers
    and files give it, is int8).

    Raises:
        GeneratorError: an unknown choice.
    """
    if isinstance(quantize, bool):
        return "int8" if quantize else "off"
    if quantize not in QUANTIZE:
        raise GeneratorError(f"unknown quantize {quantize!r}: use {one_of(QUANTIZE)}")
    return quantize
