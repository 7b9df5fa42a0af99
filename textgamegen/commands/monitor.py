"""``textgamegen monitor``: how each model narrates in real play, and whether it drifted.

Reads the feedback database (see ``textgamegen feedback``); per model it prints the
narrations, median and p95 first-token and total ms, the fallback, Esc, retry and undo
rates, good and bad ratings, the trend per hour or day, and drift flags against the
model's own evaluation. Exit code 0, or 2 when the database cannot be read.

Examples::

    textgamegen monitor
    textgamegen monitor --model textgamegen --since 2026-11-01 --png monitor.png
    textgamegen monitor --json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def since_date(text: str) -> str:
    """A --since value (YYYY-MM-DD, or with THH:MM) as the database's time text."""
    from datetime import datetime

    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(text, fmt).strftime("%Y-%m-%dT%H:%M:%S")
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(f"{text!r}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="only this model")
    parser.add_argument(
        "--since",
        type=since_date,
        default=None,
        metavar="DATE",
        help="only narrations from this UTC date on (YYYY-MM-DD[THH:MM])",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--png",
        type=Path,
        default=None,
        metavar="FILE",
        help="draw the trends here, one panel per measure",
    )
    parser.add_argument(
        "--max-bad-rate",
        type=float,
        default=None,
        metavar="RATE",
        help="flag a bad rate above this (default: the settings' max_bad_rate)",
    )
    parser.add_argument("--db", type=Path, default=None, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    from textgamegen.config import settings_or_defaults
    from textgamegen.feedback import monitor, store
    from textgamegen.safe_text import strip_unsafe

    max_bad_rate = args.max_bad_rate
    if max_bad_rate is None:
        settings, notice = settings_or_defaults()
        if notice:
            print(f"textgamegen: {notice}", file=sys.stderr)
        max_bad_rate = settings.max_bad_rate
    path = args.db or store.db_path()
    if not path.is_file():
        rows = []
    else:
        try:
            with store.open_store(path, readonly=True) as db:
                rows = store.narrations(db, model=args.model, since=args.since)
        except store.StoreError as error:
            print(f"textgamegen monitor: {error}", file=sys.stderr)
            return 2
    reports = monitor.build_report(rows, max_bad_rate)
    if args.png:
        try:
            monitor.draw_png(reports, args.png)
        except OSError as error:
            print(f"textgamegen monitor: cannot write {args.png}: {error}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(monitor.report_json(reports), indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(strip_unsafe(monitor.render_text(reports)))
        if args.png:
            print(f"trends drawn in {args.png}")
    return 0
