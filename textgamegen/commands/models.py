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
from pathlib import PurePosixPath
from typing import Any

TEMPLATE_ENTRY: dict[str, Any] = {
    "name": "template",
    "source": "built-in",
    "path": None,
    "base": "rules",
    "base_name": "rules",
    "base_sha256": "",
    "corpus": "",
    "perplexity": None,
    "latency_ms": None,
    "latency_device": "",
    "tokens_per_s": None,
    "date": "",
    "problem": "",
    "metrics": {},
    "lineage": {},
}


BUILD_FOLDERS = ("runs", "assets", "models", "finetune", "model", "final", "merged")
"""Folder names that say where a model was built, not what it is."""
WEIGHT_HASH_KEYS = ("weights_sha256", "weights_sha256_float32")


def base_name(lineage: dict[str, Any]) -> str:
    """The base model's name as a player knows it, never a build-machine path.

    ``base_name`` (or PEFT's ``base_model_name_or_path``) in the lineage wins; a hub id
    ("HuggingFaceTB/SmolLM2-135M") or a spec ("scratch:small") is shown as it is; a local
    path ("runs/textgamegen-scratch/finetune/model") gives the model's own folder name.
    """
    for key in ("base_name", "base_model_name_or_path", "base_model"):
        value = lineage.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    base = str(lineage.get("base", "")).strip()
    if not base:
        return ""
    path = PurePosixPath(base.replace("\\", "/"))
    local = base.startswith((".", "/", "~")) or path.parts[0] in BUILD_FOLDERS
    if not local:
        return base
    skipped = {*BUILD_FOLDERS, "/", ".", ".."}
    named = [part for part in path.parts if part not in skipped]
    return named[-1] if named else base


def base_sha256(lineage: dict[str, Any], installed: dict[str, dict[str, Any]]) -> str:
    """The base's weights hash: from the lineage, else from the installed model of that name."""
    for key in ("base_sha256", "base_weights_sha256"):
        value = lineage.get(key)
        if isinstance(value, str) and value:
            return value
    other = installed.get(base_name(lineage), {})
    for key in WEIGHT_HASH_KEYS:
        value = other.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


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
    from textgamegen.models.registry import list_models
    from textgamegen.safe_text import strip_unsafe

    models = list_models()
    installed = {info.name: info.lineage for info in models}
    entries = []
    for info in models:
        entry = info.summary()
        entry["base_name"] = base_name(info.lineage)
        entry["base_sha256"] = base_sha256(info.lineage, installed)
        entries.append(entry)
    entries.append(TEMPLATE_ENTRY)
    if args.json:
        print(json.dumps(entries, indent=2, ensure_ascii=False))
        return 0
    header = ("NAME", "SOURCE", "BASE", "BASE-SHA256", "CORPUS", "PERPLEXITY", "LATENCY", "DATE")
    rows: list[tuple[str, ...]] = [
        (
            entry["name"],
            entry["source"],
            entry["base_name"],
            entry["base_sha256"][:12] or "-",
            entry["corpus"],
            _cell(entry["perplexity"]),
            _cell(entry["latency_ms"], f" ms {entry['latency_device']}".rstrip()),
            str(entry["date"])[:10],
        )
        for entry in entries
    ]
    rows = [
        tuple(strip_unsafe(str(cell) or "-", keep_newlines=False) for cell in row) for row in rows
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip()
        )
    for entry in entries:
        if entry["problem"]:
            print(f"warning: {entry['name']} ({entry['path']}): {strip_unsafe(entry['problem'])}")
    print(f"\nshipped: {paths.shipped_models_dir()}\nyours:   {paths.user_models_dir()}")
    return 0
