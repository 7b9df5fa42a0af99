"""Where and how the GPT-2 backend runs: device, dtype, CPU threads, optional int8.

Imported only by the backend (it imports torch); the loader calls it in the worker. The
training stages use the same device and bf16 rules (``resolve_device``,
``native_bf16_kernels``).
"""

from __future__ import annotations

import os
import time
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

    The game (dtype auto) and the fine-tune (precision auto) both ask this, through
    ``native_bf16_kernels``. The flags come from /proc/cpuinfo; where there is none (macOS,
    Windows), from torch's own checks.
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
    return torch.bfloat16 if native_bf16_kernels() else torch.float32


def native_bf16_kernels() -> bool:
    """The CPU multiplies bf16 natively and torch's kernels may use it: they are not held
    below AVX-512 (``ATEN_CPU_CAPABILITY=avx2``, as on an AVX2-only CPU). Held there, the
    game took bfloat16 weights and declined int8 (0.80x of a bf16 product), and its prompts
    took 348 ms to the first token against 143 ms with int8 (2026-12-07)."""
    return cpu_has_fast_bf16() and torch.backends.cpu.get_cpu_capability().startswith("AVX512")


def cpu_threads() -> int:
    """The cores this process may use less one, at least 1 and at most ``MAX_THREADS``:
    automatic threads where what other processes use cannot be read (``ThreadChoice``).

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


# -- threads on a busy machine ---------------------------------------------------------

# Torch's threads wait for one another after every product, so a product on more threads
# than the machine has free cores waits a scheduler tick for the last of them: on this
# project's 2-core AMD EPYC with two busy processes beside it, one decoding product took
# 8 ms on 2 threads against 50 us on 1, and the narrator wrote 6-10 tok/s on 2 threads
# against 16-17 on 1; quiet, 2 threads wrote 37-38 against 24-25 (2026-12-06). So
# automatic threads are chosen again before each line, from what the other processes
# used of this process's cores since the last line.
_STAT = Path("/proc/stat")


def _cores() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return list(range(os.cpu_count() or 1))


def _busy_seconds(cores: list[int], stat: Path = _STAT) -> float | None:
    """CPU seconds the machine has spent busy on ``cores`` since boot (``/proc/stat``),
    or None where that cannot be read."""
    wanted = {f"cpu{core}" for core in cores}
    try:
        lines = stat.read_text(encoding="ascii").splitlines()
        ticks = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, AttributeError):
        return None
    busy, seen = 0, 0
    for line in lines:
        fields = line.split()
        if fields and fields[0] in wanted and len(fields) >= 9:
            try:
                # user nice system idle iowait irq softirq steal: all but idle and iowait.
                user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
            except ValueError:  # not the kernel's format: no reading, not a failed line
                return None
            busy += user + nice + system + irq + softirq + steal
            seen += 1
    return busy / ticks if seen == len(wanted) and ticks > 0 else None


class ThreadChoice:
    """Automatic threads (``threads = 0``), chosen again before each line.

    All the cores this process may use (at most ``MAX_THREADS``), less one for each core
    that other processes kept busy, on average, since the last line (half a core or more
    counts as one). Where ``/proc/stat`` cannot be read, one core is left free, as before.
    """

    def __init__(self, stat: Path = _STAT) -> None:
        self.stat = stat
        self.cores = _cores()
        self.chosen = cpu_threads()
        self.others = 0.0
        """Cores the other processes used on average since the last look."""
        self._last = self._sample()

    def _sample(self) -> tuple[float, float, float] | None:
        busy = _busy_seconds(self.cores, self.stat)
        if busy is None:
            return None
        return time.monotonic(), busy, time.process_time()

    def choose(self) -> int:
        """Set torch's threads for the next line; returns how many."""
        now = self._sample()
        last, self._last = self._last, now
        if now is None or last is None:
            self.chosen = cpu_threads()
        elif now[0] - last[0] >= MIN_WINDOW:
            wall, busy, own = (now[index] - last[index] for index in range(3))
            self.others = max(0.0, (busy - own) / wall)
            crowded = int(self.others + 0.5)
            self.chosen = max(1, min(MAX_THREADS, len(self.cores) - crowded))
        else:
            self._last = last  # too short to tell: keep the window open
        return set_cpu_threads(self.chosen)


MIN_WINDOW = 0.2
"""Seconds of history a thread choice needs; a line asked for sooner keeps the last."""


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
