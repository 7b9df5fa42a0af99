"""Which checkpoint a resumed fine-tune starts from: the newest *complete* one.

A fine-tune killed while the Trainer writes ``checkpoint-N`` leaves a folder with half a
weights file or no ``trainer_state.json``. The Trainer writes ``trainer_state.json`` last,
so a checkpoint is complete when that file parses, and the weights, optimizer and
scheduler files are whole (a safetensors file is checked against its own header).
Pure Python: no torch import, so the check is instant.

Example::

    python -m training finetune --corpus C --base scratch:toy --out O --resume
    # resume: from O/checkpoints/checkpoint-40 (skipped checkpoint-50: no trainer_state.json)
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

_NUMBERED = re.compile(r"^checkpoint-(\d+)$")
WEIGHTS = ("model.safetensors", "adapter_model.safetensors")
NEEDED = ("optimizer.pt", "scheduler.pt")


def _safetensors_problem(path: Path) -> str:
    """Why a safetensors file is not whole ("" when its header's tensors all fit)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(8)
            if len(head) < 8:
                return f"{path.name} is truncated"
            (length,) = struct.unpack("<Q", head)
            if length > min(size - 8, 100_000_000):
                return f"{path.name} is truncated (header)"
            header = json.loads(handle.read(length))
    except (OSError, ValueError, UnicodeDecodeError) as error:
        return f"{path.name} cannot be read ({error})"
    if not isinstance(header, dict):
        return f"{path.name} has a broken header"
    ends = [
        entry["data_offsets"][1]
        for name, entry in header.items()
        if name != "__metadata__" and isinstance(entry, dict) and "data_offsets" in entry
    ]
    if 8 + length + max(ends, default=0) > size:
        return f"{path.name} is truncated ({size} bytes of {8 + length + max(ends)})"
    return ""


def checkpoint_problem(folder: Path) -> str:
    """Why ``folder`` is not a complete Trainer checkpoint ("" when it is)."""
    state = folder / "trainer_state.json"
    try:
        data = json.loads(state.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "no trainer_state.json (killed while saving)"
    except (OSError, ValueError) as error:
        return f"trainer_state.json is broken ({error})"
    if not isinstance(data, dict) or "global_step" not in data:
        return "trainer_state.json has no global_step"
    weights = [folder / name for name in WEIGHTS if (folder / name).is_file()]
    if not weights:
        return "no model.safetensors"
    problem = _safetensors_problem(weights[0])
    if problem:
        return problem
    for name in NEEDED:
        path = folder / name
        if not path.is_file() or path.stat().st_size == 0:
            return f"no {name}"
    return ""


def numbered_checkpoints(folder: Path) -> list[Path]:
    """``checkpoint-N`` folders, newest (highest N) first."""
    if not folder.is_dir():
        return []
    found = []
    for child in folder.iterdir():
        match = _NUMBERED.match(child.name)
        if match and child.is_dir():
            found.append((int(match.group(1)), child))
    return [path for _, path in sorted(found, reverse=True)]


def newest_complete(folder: Path) -> tuple[Path | None, list[tuple[Path, str]]]:
    """The newest complete checkpoint in ``folder`` and the newer ones skipped, with why."""
    skipped: list[tuple[Path, str]] = []
    for path in numbered_checkpoints(folder):
        problem = checkpoint_problem(path)
        if not problem:
            return path, skipped
        skipped.append((path, problem))
    return None, skipped


def set_aside(path: Path) -> Path:
    """Rename an incomplete checkpoint to ``incomplete-checkpoint-N`` (kept, not deleted),
    so the Trainer, which rotates every ``checkpoint-*`` by number, never counts it."""
    target = path.with_name(f"incomplete-{path.name}")
    extra = 1
    while target.exists():
        extra += 1
        target = path.with_name(f"incomplete-{path.name}.{extra}")
    path.rename(target)
    return target


def resume_checkpoint(folder: Path) -> str | None:
    """For ``--resume``: the newest complete checkpoint as a string (None when there is
    none), saying on stdout which one it picked; newer incomplete ones are set aside."""
    picked, skipped = newest_complete(folder)
    notes = "; ".join(f"skipped {path.name}: {why}" for path, why in skipped)
    if picked is not None:
        for path, _ in skipped:
            set_aside(path)
    if picked is not None:
        print(f"resume: from {picked}" + (f" ({notes})" if notes else ""), flush=True)
        return str(picked)
    if skipped:
        print(f"resume: no complete checkpoint in {folder} ({notes})", flush=True)
    return None
