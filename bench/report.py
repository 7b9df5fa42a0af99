"""Print benchmark sections as a table and write them to JSON."""

from __future__ import annotations

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


def machine() -> dict[str, Any]:
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
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info


def _number(value: float) -> str:
    if math.isnan(value):
        return "-"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def render(sections: list[Section]) -> str:
    """A Markdown table per section, so the README can carry it as is."""
    lines: list[str] = []
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
