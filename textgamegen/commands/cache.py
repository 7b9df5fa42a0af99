"""``textgamegen cache``: what the model cache holds, and removing what nothing reads.

The cache holds each GGUF base unpacked once (SmolLM2-135M: 517 MiB), shared by every
narrator, and, from older versions, merged copies of narrators (517 MiB each) that no code
reads now; see ``textgamegen.models.cache``. The game removes those itself at its first
model load; this command shows the cache and can do it at any time.

Examples::

    textgamegen cache              # each folder, its size, and whether anything reads it
    textgamegen cache prune        # remove the folders nothing reads
    textgamegen cache --json
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        nargs="?",
        choices=("list", "prune"),
        default="list",
        help="list (the default): show the cache; prune: remove what nothing reads any more "
        "(the old merged copies, and bases left half unpacked)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    from textgamegen.models.bases import cache_root
    from textgamegen.models.cache import entries, prune, size_text
    from textgamegen.safe_text import terminal_safe

    root = cache_root()
    if args.action == "prune":
        report = prune(root)
        if args.json:
            print(
                json.dumps(
                    {
                        "cache": str(root),
                        "removed": [str(entry.path) for entry in report.removed],
                        "freed_bytes": report.freed,
                        "failed": {str(entry.path): why for entry, why in report.failed},
                    },
                    indent=1,
                )
            )
        else:
            for entry in report.removed:
                print(terminal_safe(f"removed {entry.path} ({size_text(entry.size)})"))
            for entry, why in report.failed:
                print(terminal_safe(f"not removed {entry.path}: {why}"), file=sys.stderr)
            print(
                f"freed {size_text(report.freed)}; {len(report.failed)} could not be removed"
                if report.failed
                else f"freed {size_text(report.freed)}"
            )
        return 1 if report.failed else 0
    found = entries(root)
    if args.json:
        print(
            json.dumps(
                {
                    "cache": str(root),
                    "entries": [
                        {
                            "kind": entry.kind,
                            "path": str(entry.path),
                            "bytes": entry.size,
                            "in_use": not entry.dead and entry.kind == "base",
                            "dead": entry.dead,
                            "recent": entry.recent,
                            "source": entry.source,
                        }
                        for entry in found
                    ],
                },
                indent=1,
            )
        )
        return 0
    print(terminal_safe(f"model cache: {root}"))
    if not found:
        print("  (empty)")
        return 0
    for entry in found:
        if entry.dead and entry.recent:
            state = f"nothing reads it ({entry.dead}); changed in the last hour, so kept for now"
        elif entry.dead:
            state = f"nothing reads it: {entry.dead}"
        elif entry.kind == "base":
            state = "in use"
        else:
            state = "not written by the game: left alone"
        where = f"{entry.path.parent.name}/{entry.path.name}" if entry.kind != "other" else ""
        source = f" from {entry.source}" if entry.source else ""
        print(
            terminal_safe(
                f"  {size_text(entry.size):>9}  {where or entry.path.name}{source}: {state}"
            )
        )
    dead = [entry for entry in found if entry.dead and not entry.recent]
    total = sum(entry.size for entry in found)
    print(f"  {size_text(total):>9}  in all", end="")
    if dead:
        freed = size_text(sum(entry.size for entry in dead))
        print(f"; `textgamegen cache prune` frees {freed}")
    else:
        print()
    return 0
