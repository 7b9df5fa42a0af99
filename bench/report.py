"""Print benchmark sections as a table and write them to JSON."""

from __future__ import annotations

import contextlib
import json
import math
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.measure import Figure


@dataclass
class Section:
    """One benchmark's figures, the ratios it derived, and any notes."""

    title: str
    figures: list[Figure] = field(default_factory=list)
    ratios: dict[str, float] = field(default_factory=dict)
    goals: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "figures": [figure.to_dict() for figure in self.figures],
            "ratios": self.ratios,
            "goals": self.goals,
            "notes": self.notes,
        }


FLAGS_OF_NOTE = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
"""The CPU flags that decide which kernels run (recorded with every figure)."""
ISA_LIMITS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
"""What lowers the kernels' instruction set: torch's own kernels (int8, bfloat16 without
oneDNN), oneDNN's (bfloat16 matmuls) and MKL's (float32 matmuls) each read their own."""


def machine() -> dict[str, Any]:
    """What the figures were measured on: the CPU's model and the flags of note, the
    kernel level torch runs at (``ISA_LIMITS`` can lower it) and the load average."""
    import os

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name") and "cpu_model" not in info:
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and "cpu_flags" not in info:
                    flags = set(line.split(":", 1)[1].split())
                    info["cpu_flags"] = [flag for flag in FLAGS_OF_NOTE if flag in flags]
    except OSError:
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:  # pragma: no cover - the bench runs where the game runs
        pass
    for name in ISA_LIMITS:
        if os.environ.get(name):
            info[name] = os.environ[name]
    with contextlib.suppress(OSError):  # no load average off Linux and macOS
        info["load_average"] = [round(value, 2) for value in os.getloadavg()]
    return info


def machine_line() -> str:
    """``machine()`` in one line, for a section's notes."""
    info = machine()
    limits = ", ".join(
        f"{name}={info[name]}"
        for name in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")
        if name in info
    )
    return (
        f"machine: {info.get('cpu_model', info['processor'])}, {info['cpus']} CPUs, flags "
        f"{' '.join(info.get('cpu_flags', [])) or 'unknown'}; torch {info.get('torch', '?')} "
        f"kernels {info.get('torch_cpu_capability', '?')}{f' ({limits})' if limits else ''}; "
        f"load average {' '.join(str(v) for v in info.get('load_average', []))}"
    )


def _number(value: float) -> str:
    if math.isnan(value):
        return "-"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def render(sections: list[Section]) -> str:
    """A Markdown table per section, so the README can carry it as is, after a line that
    names the machine (a figure means little without it)."""
    lines: list[str] = [machine_line(), ""]
    for section in sections:
        lines += [
            f"### {section.title}",
            "",
            "| measure | median | runs | goal | met |",
            "|---|---|---|---|---|",
        ]
        for figure in section.figures:
            met = "" if figure.met is None else ("yes" if figure.met else "NO")
            lines.append(
                f"| {figure.name} | {_number(figure.median)} {figure.unit} | {len(figure.runs)} "
                f"| {figure.goal} | {met} |"
            )
        for name, value in section.ratios.items():
            met = section.goals.get(name)
            mark = "" if met is None else ("yes" if met else "NO")
            lines.append(f"| {name} | {_number(value)}x | | | {mark} |")
        lines += [f"- {note}" for note in section.notes]
        lines.append("")
    return "\n".join(lines)


def write_json(sections: list[Section], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "sections": [section.to_dict() for section in sections],
    }
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return path
