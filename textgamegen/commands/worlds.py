"""``textgamegen worlds``: list the installed worlds, or check one can be won.

Examples::

    textgamegen worlds
    textgamegen worlds --check assets/worlds/lanternfall.toml   # exit 0 winnable, 1 not, 2 broken
    textgamegen worlds --check lanternfall --json
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--check",
        metavar="WORLD",
        default=None,
        help="check that a world (name or .toml path) can be won; exit 0 when it can, "
        "1 when it cannot (with the reasons), 2 when it cannot be loaded",
    )


def check(world_name: str, as_json: bool) -> int:
    from textgamegen.engine.solvability import check_world
    from textgamegen.engine.world import WorldError, load_world
    from textgamegen.engine.worlds import find_world
    from textgamegen.safe_text import terminal_safe

    try:
        world = load_world(find_world(world_name))
    except WorldError as error:
        print(terminal_safe(f"textgamegen worlds: {error}"), file=sys.stderr)
        return 2
    report = check_world(world)
    source = world.path or world_name
    if as_json:
        print(
            json.dumps(
                {
                    "world": str(source),
                    "winnable": report.winnable,
                    "reasons": report.reasons,
                    "warnings": report.warnings,
                },
                indent=1,
            )
        )
    else:
        verdict = "can be won" if report.winnable else "CANNOT be won"
        print(terminal_safe(f"{source}: {verdict}"))
        for reason in report.reasons:
            print(terminal_safe(f"  unwinnable: {reason}"))
        for warning in report.warnings:
            print(terminal_safe(f"  warning: {warning}"))
    return 0 if report.winnable else 1


def run(args: argparse.Namespace) -> int:
    if args.check:
        return check(args.check, args.json)
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
