"""Will a model fit? Its parameter memory estimated from ``config.json``, before loading.

A ``config.json`` with an absurd size (``n_layer = 10000``) once took 45 s to fail with an
empty reason, and without a memory cap would have tried to allocate about 16 GB. Reading
the shape from the config costs nothing, so a model that cannot fit is refused at once,
with the figures. Pure Python: no torch, no transformers.

Shapes understood: GPT-2 (``n_layer``, ``n_embd``, ``vocab_size``, ``n_positions``,
``n_inner``) and Llama-like models (``num_hidden_layers``, ``hidden_size``,
``intermediate_size``, ``vocab_size``, ``num_attention_heads``, ``num_key_value_heads``,
``head_dim``, ``tie_word_embeddings``). Anything else is not estimated (no refusal).

Example::

    fit_problem(json.loads(Path("model/config.json").read_text()), dtype_bytes=4)
    # "" when it fits, else "config.json describes about 17.9 GB of weights ..."
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
# Loading needs the weights plus room for activations, the tokenizer and Python itself.
HEADROOM = 1.2
GB = 1e9


class ConfigShapeError(ValueError):
    """A size in config.json is not a positive whole number."""


def _size(config: dict[str, Any], key: str, default: int | None = None) -> int:
    value = config.get(key, default)
    if value is None:
        raise KeyError(key)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigShapeError(f"config.json: {key} must be a positive whole number, not {value!r}")
    return value


def parameter_count(config: dict[str, Any]) -> int | None:
    """The number of parameters the config describes, or None for an unknown shape.

    Raises:
        ConfigShapeError: a size is zero, negative or not a whole number.
    """
    try:
        if "n_layer" in config or "n_embd" in config:
            layers, width = _size(config, "n_layer"), _size(config, "n_embd")
            vocab = _size(config, "vocab_size", 50257)
            positions = _size(config, "n_positions", 1024)
            inner = config.get("n_inner") or 4 * width
            inner = _size({"n_inner": inner}, "n_inner")
            # Attention (qkv + out) 4d^2, MLP 2*d*inner, plus biases and two layer norms.
            per_layer = 4 * width * width + 2 * width * inner + 9 * width + inner
            return vocab * width + positions * width + layers * per_layer + 2 * width
        if "num_hidden_layers" in config and "hidden_size" in config:
            layers, width = _size(config, "num_hidden_layers"), _size(config, "hidden_size")
            vocab = _size(config, "vocab_size")
            inner = _size(config, "intermediate_size", 4 * width)
            heads = _size(config, "num_attention_heads", 1)
            kv_heads = _size(config, "num_key_value_heads", heads)
            head_dim = _size(config, "head_dim", max(1, width // heads))
            attention = 2 * width * heads * head_dim + 2 * width * kv_heads * head_dim
            per_layer = attention + 3 * width * inner + 2 * width
            tied = config.get("tie_word_embeddings", True) is not False
            return vocab * width * (1 if tied else 2) + layers * per_layer + width
    except KeyError:
        return None
    return None


def estimate_bytes(config: dict[str, Any], dtype_bytes: int) -> int | None:
    """Parameter memory in bytes at ``dtype_bytes`` per parameter (None: unknown shape)."""
    count = parameter_count(config)
    return None if count is None else count * dtype_bytes


def available_memory() -> int | None:
    """Memory the system can give now, in bytes: ``MemAvailable`` from /proc/meminfo,
    else free pages from ``sysconf``; None when neither can be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def fit_problem(config: dict[str, Any], dtype_bytes: int, available: int | None = None) -> str:
    """Why a model of this config cannot be loaded here ("" when it fits or is unknown).

    Args:
        config: the parsed config.json.
        dtype_bytes: bytes per parameter (4 for float32, 2 for float16/bfloat16).
        available: bytes available (default: ``available_memory()``).
    """
    try:
        count = parameter_count(config)
    except ConfigShapeError as error:
        return str(error)
    if count is None:
        return ""
    needed = count * dtype_bytes
    free = available_memory() if available is None else available
    if free is None or needed * HEADROOM <= free:
        return ""
    return (
        f"config.json describes about {count / 1e9:.2f} billion parameters, "
        f"{needed / GB:.1f} GB of weights at {dtype_bytes} bytes each, but only "
        f"{free / GB:.1f} GB of memory is available; pick a smaller model "
        "(or a 2-byte dtype)"
    )


def directory_fit_problem(directory: Path, dtype: str = "auto") -> str:
    """``fit_problem`` for a model directory; ``dtype`` as in the settings ("auto" counts
    4 bytes a parameter: float32, what the CPU loads)."""
    try:
        config = json.loads((Path(directory) / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return ""  # directory_problem and the loader report a missing or broken config
    if not isinstance(config, dict):
        return "config.json is not a JSON object"
    return fit_problem(config, DTYPE_BYTES.get(dtype, 4))
