"""``textgamegen models``: list the installed generators with their metadata.

Shipped models (``assets/models``), the player's own (the platformdirs models folder,
where ``textgamegen train`` registers), and the built-in ``template`` generator.

Examples::

    textgamegen models
    textgamegen models --json
"""

from __future__ import annotations

import argparse
import json
from typing import Any

TEMPLATE_ENTRY: dict[str, Any] = {
    "name": "template", "source": "built-in", "path": None, "base": "rules",
    "corpus": "", "perplexity": None, "latency_ms": None, "latency_device": "",
    "tokens_per_s": None, "date": "", "problem": "", "metrics": {}, "lineage": {},
}  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON list")


def _cell(value: Any, unit: str = "") -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}{unit}"
    return f"{value}{unit}"


def run(args: argparse.Namespace) -> int:
    from textgamegen import paths
    from textgamegen.engine.safe_text import strip_unsafe
    from textgamegen.generation.registry import list_models

    entries = [info.summary() for info in list_models()] + [TEMPLATE_ENTRY]
    if args.json:
        print(json.dumps(entries, indent=2, ensure_ascii=False))
        return 0
    header = ("NAME", "SOURCE", "BASE", "CORPUS", "PERPLEXITY", "LATENCY", "DATE")
    rows = [
        (
            entry["name"], entry["source"], entry["base"], entry["corpus"],
            _cell(entry["perplexity"]),
            _cell(entry["latency_ms"], f" ms {entry['latency_device']}".rstrip()),
            str(entry["date"])[:10],
        )
        for entry in entries
    ]  # fmt: skip
    rows = [tuple(strip_unsafe(str(cell) or "-", keep_newlines=False) for cell in row)
            for row in rows]  # fmt: skip
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    for entry in entries:
        if entry["problem"]:
            print(f"warning: {entry['name']} ({entry['path']}): {strip_unsafe(entry['problem'])}")
    print(f"\nshipped: {paths.shipped_models_dir()}\nyours:   {paths.user_models_dir()}")
    return 0
