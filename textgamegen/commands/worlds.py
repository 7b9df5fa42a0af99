"""``textgamegen worlds``: list the installed worlds (name, title, file)."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    from textgamegen.engine.worlds import DEFAULT_WORLD, list_worlds

    worlds = list_worlds()
    if args.json:
        rows = [
            {
                "name": w.name,
                "title": w.title,
                "path": str(w.path),
                "error": w.error,
                "default": w.name == DEFAULT_WORLD,
            }
            for w in worlds
        ]
        print(json.dumps(rows, indent=1))
        return 0
    if not worlds:
        print("No worlds installed.")
        return 1
    for info in worlds:
        mark = "*" if info.name == DEFAULT_WORLD else " "
        title = info.title or f"(broken: {info.error})"
        print(f"{mark} {info.name:<16} {title:<28} {info.path}")
    return 0
