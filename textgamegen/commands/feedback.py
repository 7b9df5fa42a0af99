"""``textgamegen feedback export|stats|clear|path``: see and control the recorded feedback.

Every narration, its timings and what the player did about it (Esc, ``retry``, ``undo``,
``rate good|bad``) is kept in ``feedback.db`` in the user data folder and never leaves the
machine unless exported. ``export`` writes JSON lines (prompt, text, label, model, time)
that a modder can share, or train on with the pipeline's ``feedback`` source format.
Labels: good, bad (rated), retried, cancelled (Esc), undone, fallback, kept (none of
these: shown and let stand, which is no approval).

An export holds what players said about a model's words: scripted runs (``play
--script``) and the template narrator's text are left out unless asked for
(``--include-scripted``, ``--include-template``); ``--model`` and ``--version`` (a registered
version, or the weights' sha256 or a prefix of it) keep one model's lines.

Examples::

    textgamegen feedback stats
    textgamegen feedback export --out feedback.jsonl --model narrator --version 3f2a9c
    textgamegen feedback clear --yes
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from textgamegen.commands.monitor import since_date

EXPORT_FIELDS = (
    "id",
    "time",
    "model",
    "model_sha256",
    "model_version",
    "kind",
    "prompt",
    "text",
    "label",
    "scripted",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = sub.add_parser("export", help="write the feedback as JSON lines")
    export.add_argument(
        "--out", type=Path, default=None, help="write here (atomically); default: standard output"
    )
    stats = sub.add_parser("stats", help="count narrations per model and label")
    stats.add_argument("--json", action="store_true", help="print JSON")
    clear = sub.add_parser("clear", help="delete recorded narrations")
    clear.add_argument("--yes", action="store_true", help="really delete them")
    sub.add_parser("path", help="print where the database is")
    for child in (export, stats, clear):
        child.add_argument("--model", default=None, help="only this model")
    export.add_argument(
        "--version",
        default=None,
        help="only this version of the model: its registered version, or its weights' "
        "sha256 or a prefix of it (what every record holds)",
    )
    export.add_argument(
        "--include-scripted",
        action="store_true",
        help="also the narrations of scripted runs (play --script), marked scripted",
    )
    export.add_argument(
        "--include-template",
        action="store_true",
        help="also the template narrator's text (no model wrote it)",
    )
    for child in (export, stats):
        child.add_argument(
            "--since",
            type=since_date,
            default=None,
            metavar="DATE",
            help="only from this UTC date on (YYYY-MM-DD[THH:MM])",
        )
    for child in (export, stats, clear):
        child.add_argument("--db", type=Path, default=None, help=argparse.SUPPRESS)


def export_row(row: dict[str, Any]) -> dict[str, Any]:
    """One exported line: what a modder needs, nothing about the player."""
    from textgamegen.feedback.store import label

    return {
        "id": row["id"],
        "time": row["created_at"],
        "model": row["model"],
        "model_sha256": row["model_sha256"],
        "model_version": row.get("model_version") or "",
        "kind": row["kind"],
        "prompt": row["prompt"],
        "text": row["text"],
        "label": label(row),
        "scripted": bool(row.get("scripted")),
    }


def is_template(row: dict[str, Any]) -> bool:
    """Text the template narrator wrote: no model's words, nothing to train a model on."""
    from textgamegen.feedback.recorder import TEMPLATE_SHA

    return (
        row.get("backend") == "template"
        or row.get("model") == "template"
        or row.get("model_sha256") == TEMPLATE_SHA
    )


def _rows(args: argparse.Namespace, path: Path) -> list[dict[str, Any]]:
    from textgamegen.feedback import store

    if not path.is_file():
        return []
    with store.open_store(path, readonly=True) as db:
        return store.narrations(
            db,
            model=args.model,
            since=getattr(args, "since", None),
            version=getattr(args, "version", None),
        )


def _exported(args: argparse.Namespace, path: Path) -> tuple[list[dict[str, Any]], Counter[str]]:
    """The rows an export writes, and how many were left out, by reason."""
    kept: list[dict[str, Any]] = []
    left: Counter[str] = Counter()
    for row in _rows(args, path):
        if row.get("scripted") and not args.include_scripted:
            left["scripted"] += 1
        elif is_template(row) and not args.include_template:
            left["template narrator"] += 1
        else:
            kept.append(row)
    return kept, left


def run(args: argparse.Namespace) -> int:
    from textgamegen.feedback import store

    path = getattr(args, "db", None) or store.db_path()
    if args.action == "path":
        print(path)
        return 0
    try:
        if args.action == "export":
            return _export(args, path)
        if args.action == "stats":
            return _stats(args, path)
        return _clear(args, path)
    except store.StoreError as error:
        print(f"textgamegen feedback {args.action}: {error}", file=sys.stderr)
        return 2


def _export(args: argparse.Namespace, path: Path) -> int:
    rows, left = _exported(args, path)
    lines = [json.dumps(export_row(row), ensure_ascii=False) for row in rows]
    if left:
        print(
            "left out: "
            + ", ".join(f"{n} {why}" for why, n in sorted(left.items()))
            + " (--include-scripted, --include-template to keep them)",
            file=sys.stderr,
        )
    text = "".join(line + "\n" for line in lines)
    if args.out is None:
        sys.stdout.write(text)
        return 0
    from textgamegen.atomic import write_atomic

    try:
        write_atomic(args.out, text)
    except OSError as error:
        print(f"textgamegen feedback export: cannot write {args.out}: {error}", file=sys.stderr)
        return 2
    print(f"exported {len(lines)} narrations to {args.out}", file=sys.stderr)
    return 0


def _stats(args: argparse.Namespace, path: Path) -> int:
    from textgamegen.feedback.store import label

    counts: dict[str, Counter[str]] = {}
    for row in _rows(args, path):
        counts.setdefault(row["model"], Counter())[label(row)] += 1
    data: dict[str, dict[str, Any]] = {
        model: {"narrations": sum(c.values()), "labels": dict(c.most_common())}
        for model, c in counts.items()
    }
    if args.json:
        print(json.dumps({"database": str(path), "models": data}, indent=2))
        return 0
    print(f"database: {path}")
    if not data:
        print("no narrations recorded")
    for model, info in data.items():
        labels = ", ".join(f"{name} {n}" for name, n in info["labels"].items())
        print(f"{model}: {info['narrations']} narrations ({labels})")
    return 0


def _clear(args: argparse.Namespace, path: Path) -> int:
    from textgamegen.feedback import store

    if not path.is_file():
        print("nothing to clear")
        return 0
    if not args.yes:
        print("This deletes the recorded feedback; run again with --yes to do it.", file=sys.stderr)
        return 1
    with store.open_store(path) as db:
        removed = store.clear(db, model=args.model)
    print(f"deleted {removed} narrations from {path}")
    return 0
