"""``textgamegen models``: list the installed generators with their metadata, and manage
a registered model's versions.

Shipped models (``assets/models``), the player's own (the platformdirs models folder,
where ``textgamegen train`` registers), and the built-in ``template`` generator. Each
registered name has versions (``textgamegen/models/versions.py``): the game and
``serve-model`` load its production version; ``promote`` and ``rollback`` change which, in
one step, and a running ``serve-model`` picks the change up.

Examples::

    textgamegen models
    textgamegen models --json
    textgamegen models versions narrator
    textgamegen models promote narrator 4
    textgamegen models rollback narrator
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path, PurePosixPath
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
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    where_help = "the models folder (default: yours if it holds NAME, else the shipped one)"
    versions = actions.add_parser(
        "versions",
        help="list a model's versions and which is production and candidate",
        description="List NAME's registered versions, oldest first, with their aliases "
        "(production: what the game and serve-model load; candidate: the newest registered "
        "and not yet promoted), figures and gate decision.",
    )
    versions.add_argument("name", metavar="NAME")
    versions.add_argument("--models-dir", type=Path, metavar="DIR", help=where_help)
    versions.add_argument("--json", action="store_true", help="print a JSON list")
    promote = actions.add_parser(
        "promote",
        help="make a version production",
        description="Make VERSION (a number, or 'candidate') NAME's production version, in "
        "one step. A running serve-model reloads it; `rollback` undoes it.",
    )
    promote.add_argument("name", metavar="NAME")
    promote.add_argument("version", metavar="VERSION")
    promote.add_argument("--models-dir", type=Path, metavar="DIR", help=where_help)
    rollback = actions.add_parser(
        "rollback",
        help="make the previous production version production again",
        description="Make the version that was production before the current one "
        "production again, in one step.",
    )
    rollback.add_argument("name", metavar="NAME")
    rollback.add_argument("--models-dir", type=Path, metavar="DIR", help=where_help)


def _cell(value: Any, unit: str = "") -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}{unit}"
    return f"{value}{unit}"


def _models_dir(args: argparse.Namespace) -> Path:
    """Where NAME's versions are: --models-dir, else the folder it is installed in."""
    from textgamegen import paths
    from textgamegen.models.registry import find_model

    if args.models_dir is not None:
        return Path(args.models_dir)
    info = find_model(args.name)
    return info.path.parent if info is not None else paths.user_models_dir()


def _versions(args: argparse.Namespace) -> int:
    from textgamegen.models import versions
    from textgamegen.safe_text import strip_unsafe

    folder = _models_dir(args)
    found = versions.list_versions(folder, args.name)
    if args.json:
        print(json.dumps([v.summary() for v in found], indent=2, ensure_ascii=False))
        return 0
    if not found:
        print(f"textgamegen models: no model {args.name!r} in {folder}", file=sys.stderr)
        return 2
    header = ("VERSION", "ALIASES", "CREATED", "PERPLEXITY", "BITS/BYTE", "LATENCY", "GATE", "RUN")
    rows: list[tuple[str, ...]] = []
    for version in found:
        entry = version.summary()
        rows.append(
            (
                str(entry["version"]),
                ",".join(entry["aliases"]) or "-",
                str(entry["created_at"])[:19] or "-",
                _cell(entry["perplexity"]),
                f"{entry['bits_per_byte']:.3f}"
                if isinstance(entry["bits_per_byte"], (int, float))
                else "-",
                _cell(entry["latency_ms"], " ms"),
                str(entry["gate"]) or "-",
                str(entry["run"]) or "-",
            )
        )
    rows = [tuple(strip_unsafe(cell, keep_newlines=False) for cell in row) for row in rows]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    print(f"\n{args.name} in {folder}")
    return 0


def _move(args: argparse.Namespace) -> int:
    from textgamegen.models import versions

    folder = _models_dir(args)
    try:
        if args.action == "promote":
            before, now = versions.promote(folder, args.name, args.version)
        else:
            before, now = versions.rollback(folder, args.name)
    except (versions.VersionError, OSError) as error:
        print(f"textgamegen models {args.action}: {error}", file=sys.stderr)
        return 2
    print(f"{args.name}: production is version {now} (was {before}) in {folder}")
    return 0


def run(args: argparse.Namespace) -> int:
    if getattr(args, "action", None) == "versions":
        return _versions(args)
    if getattr(args, "action", None) in ("promote", "rollback"):
        return _move(args)
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
