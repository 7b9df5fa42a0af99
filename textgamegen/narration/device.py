"""Where and how the GPT-2 backend runs: device, dtype, CPU threads, optional int8.

Imported only by the backend (it imports torch); the loader calls it in the worker. The
training stages use the same device and bf16 rules (``resolve_device``, ``cpu_has_fast_bf16``).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from textgamegen.config import DEVICES, DTYPES, one_of
from textgamegen.narration.generator import GeneratorError

TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
"""The torch dtype of each name in ``config.DTYPES`` but auto."""
# Past this many threads the small matrices of a GPT-2 step stop getting faster.
MAX_THREADS = 8


def resolve_device(requested: str) -> str:
    """``auto`` is CUDA when available, else the CPU; an unavailable CUDA is an error."""
    if requested not in DEVICES:
        raise GeneratorError(f"unknown device {requested!r}: use {one_of(DEVICES)}")
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise GeneratorError(
            f"CUDA is not available here (torch {torch.__version__}); use --device cpu or auto"
        )
    return requested


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_has_fast_bf16() -> bool:
    """bf16 only pays on the CPU with AMX or AVX-512 BF16; elsewhere it is emulated and slower.

    The game (dtype auto) and the fine-tune (precision auto) both ask this. The flags come
    from /proc/cpuinfo; where there is none (macOS, Windows), from torch's own checks.
    """
    flags = _cpu_flags()
    if flags:
        return bool({"amx_bf16", "avx512_bf16"} & flags)
    return bool(
        getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
        or getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    )


def resolve_dtype(device: str, requested: str = "auto") -> torch.dtype:
    """The weights' dtype: fp16 on CUDA, bf16 on CPUs that run it natively, else fp32."""
    if requested != "auto":
        if requested not in TORCH_DTYPES:
            raise GeneratorError(f"unknown dtype {requested!r}: use {one_of(DTYPES)}")
        if device == "cpu" and requested == "float16":
            raise GeneratorError("float16 is for CUDA; on the CPU use float32 or bfloat16")
        return TORCH_DTYPES[requested]
    if device.startswith("cuda"):
        return torch.float16
    return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32


def cpu_threads() -> int:
    """The cores this process may use less one, at least 1 and at most ``MAX_THREADS``.

    One core stays free for the UI thread: torch's worker threads spin while they wait,
    and on a busy 2-core machine 2 threads made a tiny model 20x slower than 1
    (median 3.6 s against 0.16 s for five 40-token candidates).
    """
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        available = os.cpu_count() or 1
    return max(1, min(MAX_THREADS, available - 1))


def set_cpu_threads(threads: int = 0) -> int:
    """Set torch's intra-op threads (0 = ``cpu_threads()``); returns the number set."""
    threads = threads if threads > 0 else cpu_threads()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def conv1d_to_linear(model: nn.Module) -> int:
    """Replace GPT-2's ``Conv1D`` layers by equivalent ``nn.Linear`` ones, in place.

    ``quantize_dynamic`` only knows ``nn.Linear``, and GPT-2 keeps its projections in
    transformers' ``Conv1D`` (weight stored transposed), so without this it quantizes
    nothing but the LM head. Returns how many layers were replaced.
    """
    from transformers.pytorch_utils import Conv1D

    replaced = 0
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, Conv1D):
                n_in, n_out = child.weight.shape
                linear = nn.Linear(
                    n_in, n_out, device=child.weight.device, dtype=child.weight.dtype
                )
                with torch.no_grad():
                    linear.weight.copy_(child.weight.t())
                    linear.bias.copy_(child.bias)
                setattr(parent, child_name, linear)
                replaced += 1
    return replaced


def quantize_int8(model: nn.Module) -> nn.Module:
    """Dynamic int8 quantization of every Linear layer, for the CPU (float32 weights only)."""
    import warnings

    conv1d_to_linear(model)
    model = model.float()
    with warnings.catch_warnings():
        # torch.ao.quantization announces its move to torchao; it still works here.
        warnings.simplefilter("ignore", DeprecationWarning)
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
