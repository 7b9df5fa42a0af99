"""Run tracking: every ``train pipeline`` run leaves a record, and ``train runs`` lists them.

Each run writes ``<run dir>/runs/<run id>.json`` when it ends, however it ends: its config
hash (the config file's text), data hash (the built corpus), the stages it ran or skipped,
its metrics, the gate's decision and the version it registered. The run id is the start
time, the process id and a random part, so records are never overwritten, and the
registered version's lineage.json names its run id.

Examples::

    textgamegen train runs                      # every run under ./runs
    textgamegen train runs runs/mymodel --json
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from textgamegen.atomic import write_atomic

RUNS_FOLDER = "runs"
"""Inside a run directory: one JSON file per run."""
FIGURES = ("perplexity", "bits_per_byte", "latency_ms_median", "first_token_ms_median")


def new_run_id() -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{os.getpid()}-{os.urandom(3).hex()}"


def config_hash(text: str) -> str:
    """The sha256 of the config file's text (what the run was asked to do)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_record(run_dir: Path, record: dict[str, Any]) -> Path:
    """Write one run's record under ``run_dir/runs``, never over another's."""
    path = Path(run_dir) / RUNS_FOLDER / f"{record['run_id']}.json"
    if path.exists():  # the same id twice cannot happen, but a record is never replaced
        path = path.with_name(f"{path.stem}-{os.urandom(3).hex()}.json")
    write_atomic(path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return path


def make_record(
    run_id: str,
    *,
    name: str,
    config_text: str,
    command: str,
    started_at: str,
    corpus_sha256: str,
    weights_sha256: str,
    stages: dict[str, str],
    metrics: dict[str, Any],
    gate: dict[str, Any] | None,
    version: int | None,
    production: int | None,
    exit_code: int | None,
) -> dict[str, Any]:
    """A run's record (what ``train runs`` shows)."""
    return {
        "run_id": run_id,
        "name": name,
        "command": command,
        "started_at": started_at,
        "finished_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "config_sha256": config_hash(config_text),
        "corpus_sha256": corpus_sha256,
        "weights_sha256": weights_sha256,
        "stages": stages,
        "metrics": {k: metrics[k] for k in FIGURES if k in metrics},
        "gate": gate,
        "registered_version": version,
        "production_version": production,
        "exit_code": exit_code,
        "outcome": (
            "error"
            if exit_code is None
            else "registered"
            if version is not None and exit_code == 0
            else "refused"
            if exit_code == 1
            else "stopped"
            if exit_code == 0
            else f"exit {exit_code}"
        ),
    }


def read_records(run_dirs: list[Path]) -> tuple[list[dict[str, Any]], list[str]]:
    """Every record under the run directories, oldest first, and the unreadable files."""
    records, problems = [], []
    for run_dir in run_dirs:
        for path in sorted((Path(run_dir) / RUNS_FOLDER).glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as error:
                problems.append(f"{path}: {error}")
                continue
            if isinstance(data, dict) and "run_id" in data:
                records.append({**data, "record": str(path)})
            else:
                problems.append(f"{path}: not a run record")
    records.sort(key=lambda record: str(record.get("started_at", "")) + record["run_id"])
    return records, problems


def default_run_dirs(root: Path = Path("runs")) -> list[Path]:
    """Every run directory under ``root`` (the pipeline's default ``runs/NAME``)."""
    if not root.is_dir():
        return []
    return sorted(child for child in root.iterdir() if (child / RUNS_FOLDER).is_dir())


def _figure(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "-"


def format_table(records: list[dict[str, Any]]) -> str:
    """The runs as a table, one line each."""
    from textgamegen.safe_text import strip_unsafe

    header = (
        "RUN",
        "NAME",
        "CONFIG",
        "DATA",
        "PERPLEXITY",
        "BITS/BYTE",
        "LATENCY",
        "GATE",
        "VERSION",
        "OUTCOME",
    )
    rows: list[tuple[str, ...]] = []
    for record in records:
        metrics = record.get("metrics") or {}
        gate = record.get("gate") or {}
        rows.append(
            (
                record["run_id"],
                str(record.get("name", "")),
                str(record.get("config_sha256", ""))[:12] or "-",
                str(record.get("corpus_sha256", ""))[:12] or "-",
                _figure(metrics.get("perplexity"), 2),
                _figure(metrics.get("bits_per_byte")),
                _figure(metrics.get("latency_ms_median"), 0) + " ms"
                if "latency_ms_median" in metrics
                else "-",
                str(gate.get("decision", "-")),
                str(record.get("registered_version") or "-"),
                str(record.get("outcome", "")),
            )
        )
    rows = [tuple(strip_unsafe(cell, keep_newlines=False) for cell in row) for row in rows]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )
