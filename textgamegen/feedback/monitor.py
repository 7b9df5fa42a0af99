"""Monitoring: how each model narrates in real play, over time, against its own evaluation.

From the feedback database, per model: narrations; median and p95 of first-token and total
ms; the fallback rate; the Esc, retry and undo rates; good and bad ratings; and the bad
rate (passages rated bad, or retried without a good rating, per narration). The same
measures per time bucket (an hour when the records span under two days, else a day) give
the trends, drawn one panel per measure.

Drift is flagged against the model's own gate and evaluation (``metrics.json`` and
``lineage.json`` in its directory, the production version for a registered name): median
total ms above its gate's bound (``[gate] max_latency_ms``), else above what the gate measured
for it (its lineage's gate figures) or its evaluated ``latency_ms_median`` with ``HEADROOM``;
median first-token ms above ``max_first_token_ms``, else its evaluated median with
``HEADROOM``; and a bad rate above the settings' ``max_bad_rate``.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from textgamegen.feedback.store import label

MEASURES = (
    ("narrations", "narrations", ""),
    ("first_token_ms_median", "first token, median", "ms"),
    ("total_ms_median", "total, median", "ms"),
    ("total_ms_p95", "total, p95", "ms"),
    ("fallback_rate", "fallback rate", ""),
    ("esc_rate", "Esc rate", ""),
    ("retry_rate", "retry rate", ""),
    ("undo_rate", "undo rate", ""),
    ("bad_rate", "bad rate", ""),
)
"""(key, title, unit) of each measure, in the order of the table and the PNG's panels."""


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100) by nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return round(ordered[rank], 2)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def _rate(count: int, total: int) -> float | None:
    return round(count / total, 4) if total else None


def is_bad(row: dict[str, Any]) -> bool:
    """Rated bad, or retried and not rated good afterwards."""
    return label(row) in ("bad", "retried")


def measures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Every measure over a list of narration rows."""
    first = [float(r["first_token_ms"]) for r in rows if r.get("first_token_ms") is not None]
    total = [float(r["total_ms"]) for r in rows if r.get("total_ms") is not None]
    count = len(rows)
    good = sum(1 for r in rows if r.get("rating") == "good")
    bad = sum(1 for r in rows if r.get("rating") == "bad")
    return {
        "narrations": count,
        "first_token_ms_median": _median(first),
        "first_token_ms_p95": percentile(first, 95),
        "total_ms_median": _median(total),
        "total_ms_p95": percentile(total, 95),
        "tokens_median": _median([float(r["tokens"]) for r in rows if r.get("tokens")]),
        "fallback_rate": _rate(sum(1 for r in rows if r.get("fallback")), count),
        "esc_rate": _rate(sum(1 for r in rows if r.get("cancelled")), count),
        "retry_rate": _rate(sum(1 for r in rows if r.get("retried")), count),
        "undo_rate": _rate(sum(1 for r in rows if r.get("undone")), count),
        "rated_good": good,
        "rated_bad": bad,
        "good_bad_ratio": round(good / bad, 3) if bad else None,
        "bad_rate": _rate(sum(1 for r in rows if is_bad(r)), count),
    }


@dataclass
class Budget:
    """What the model's own evaluation promised, and where it came from."""

    total_ms: float | None = None
    first_token_ms: float | None = None
    max_bad_rate: float | None = None
    source: str = ""


@dataclass
class ModelReport:
    model: str
    weights: list[str]
    overall: dict[str, Any]
    trend: list[dict[str, Any]] = field(default_factory=list)
    budget: Budget = field(default_factory=Budget)
    drift: list[str] = field(default_factory=list)


HEADROOM = 1.5
"""How far above a measured median real play may run before drift is flagged. A budget
equal to the evaluation's own median fired by design: half of all play is above a median,
and players narrate on busier machines than the one the model was measured on."""


def budget_for(model: str, max_bad_rate: float | None) -> Budget:
    """The model's latency budget from its directory (installed models only): its gate's
    bound when the gate set one; else what the gate measured for this version beside the
    production version it replaced (``lineage.json`` gate figures), or else its evaluation
    (``metrics.json``), either with ``HEADROOM``."""
    from textgamegen.models.registry import find_model

    budget = Budget(max_bad_rate=max_bad_rate)
    try:
        info = find_model(model) if model != "template" else None
    except ValueError:  # a version since removed: no budget to hold it to
        info = None
    if info is None:
        return budget
    lineage = info.lineage or {}
    gate = lineage.get("config", {}).get("gate", {})
    gated = (lineage.get("gate") or {}).get("figures") or {}
    metrics = info.metrics
    if gate.get("max_latency_ms"):
        budget.total_ms = float(gate["max_latency_ms"])
        budget.source = f"{info.path}/lineage.json [gate]"
    elif isinstance(gated.get("latency_ms_candidate"), (int, float)):
        budget.total_ms = round(float(gated["latency_ms_candidate"]) * HEADROOM, 1)
        budget.source = f"{info.path}/lineage.json gate figures x {HEADROOM:g}"
    elif isinstance(metrics.get("latency_ms_median"), (int, float)):
        budget.total_ms = round(float(metrics["latency_ms_median"]) * HEADROOM, 1)
        budget.source = f"{info.path}/metrics.json x {HEADROOM:g}"
    if gate.get("max_first_token_ms"):
        budget.first_token_ms = float(gate["max_first_token_ms"])
    elif isinstance(metrics.get("first_token_ms_median"), (int, float)):
        budget.first_token_ms = round(float(metrics["first_token_ms_median"]) * HEADROOM, 1)
    budget.source = budget.source or f"{info.path}/metrics.json x {HEADROOM:g}"
    return budget


def drift_flags(overall: dict[str, Any], budget: Budget) -> list[str]:
    flags = []
    total = overall.get("total_ms_median")
    if budget.total_ms and total is not None and total > budget.total_ms:
        flags.append(f"median total {total:.0f} ms is above the budget of {budget.total_ms:g} ms")
    first = overall.get("first_token_ms_median")
    if budget.first_token_ms and first is not None and first > budget.first_token_ms:
        flags.append(
            f"median first token {first:.0f} ms is above the budget of {budget.first_token_ms:g} ms"
        )
    bad = overall.get("bad_rate")
    if budget.max_bad_rate is not None and bad is not None and bad > budget.max_bad_rate:
        flags.append(f"bad rate {bad:.0%} is above max_bad_rate {budget.max_bad_rate:.0%}")
    return flags


def _parse_time(text: str) -> datetime:
    return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")


def bucket_format(rows: list[dict[str, Any]]) -> str:
    """Hours when the records span under two days, else days (as strftime formats)."""
    if not rows:
        return "%Y-%m-%d"
    span = _parse_time(rows[-1]["created_at"]) - _parse_time(rows[0]["created_at"])
    return "%Y-%m-%dT%H:00" if span.total_seconds() < 2 * 86400 else "%Y-%m-%d"


def build_report(
    rows: list[dict[str, Any]], max_bad_rate: float | None = None
) -> list[ModelReport]:
    """One report per model, in order of first appearance."""
    fmt = bucket_format(rows)
    by_model: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_model.setdefault(row["model"], []).append(row)
    reports = []
    for model, model_rows in by_model.items():
        buckets: dict[str, list[dict[str, Any]]] = {}
        for row in model_rows:
            buckets.setdefault(_parse_time(row["created_at"]).strftime(fmt), []).append(row)
        trend = [{"bucket": key, **measures(items)} for key, items in buckets.items()]
        overall = measures(model_rows)
        budget = budget_for(model, max_bad_rate)
        weights = sorted({row.get("model_sha256") or "" for row in model_rows} - {""})
        reports.append(
            ModelReport(model, weights, overall, trend, budget, drift_flags(overall, budget))
        )
    return reports


def report_json(reports: list[ModelReport]) -> list[dict[str, Any]]:
    return [asdict(report) for report in reports]


def _cell(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not unit and value <= 1.0:
        return f"{value:.0%}"
    if isinstance(value, float):
        return f"{value:.1f}" if value < 10 else f"{value:.0f}"
    return str(value)


def render_text(reports: list[ModelReport]) -> str:
    """The reports as plain text for the terminal."""
    if not reports:
        return "No narrations recorded (yet) for this selection.\n"
    out = []
    for report in reports:
        o = report.overall
        weights = ", ".join(w[:12] for w in report.weights) or "unknown"
        out += [
            f"model {report.model} (weights {weights})",
            f"  narrations        {o['narrations']}",
            f"  first token ms    median {_cell(o['first_token_ms_median'], 'ms')}, "
            f"p95 {_cell(o['first_token_ms_p95'], 'ms')}",
            f"  total ms          median {_cell(o['total_ms_median'], 'ms')}, "
            f"p95 {_cell(o['total_ms_p95'], 'ms')}",
            f"  fallback rate     {_cell(o['fallback_rate'])}",
            f"  Esc / retry / undo  {_cell(o['esc_rate'])} / {_cell(o['retry_rate'])} / "
            f"{_cell(o['undo_rate'])}",
            f"  rated good / bad  {o['rated_good']} / {o['rated_bad']}"
            + (f" (ratio {o['good_bad_ratio']:g})" if o["good_bad_ratio"] is not None else ""),
            f"  bad rate          {_cell(o['bad_rate'])}",
        ]
        if report.budget.source:
            out.append(
                f"  budget            total {_cell(report.budget.total_ms, 'ms')} ms, first "
                f"token {_cell(report.budget.first_token_ms, 'ms')} ms ({report.budget.source})"
            )
        out.append("  trend:")
        out.append("    bucket            n  first-ms  total-ms  fallback  bad")
        for point in report.trend:
            out.append(
                f"    {point['bucket']:<16} {point['narrations']:>3}  "
                f"{_cell(point['first_token_ms_median'], 'ms'):>8}  "
                f"{_cell(point['total_ms_median'], 'ms'):>8}  "
                f"{_cell(point['fallback_rate']):>8}  {_cell(point['bad_rate']):>4}"
            )
        if report.drift:
            out += [f"  DRIFT: {flag}" for flag in report.drift]
        else:
            out.append("  drift: none")
        out.append("")
    return "\n".join(out)


def draw_png(reports: list[ModelReport], path: Path) -> Path:
    """The trends as a PNG: one panel per measure, one line per model."""
    import matplotlib

    matplotlib.use("Agg")  # no display: the monitor runs in terminals and cron jobs
    import matplotlib.pyplot as plt

    columns = 3
    rows = -(-len(MEASURES) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.2 * rows), squeeze=False)
    for axis, (key, title, unit) in zip(axes.flat, MEASURES, strict=False):
        for report in reports:
            points = [(p["bucket"], p[key]) for p in report.trend if p[key] is not None]
            if points:
                axis.plot(
                    [b for b, _ in points], [v for _, v in points], marker="o", label=report.model
                )
            if key == "total_ms_median" and report.budget.total_ms:
                axis.axhline(report.budget.total_ms, linestyle="--", linewidth=1)
            if key == "first_token_ms_median" and report.budget.first_token_ms:
                axis.axhline(report.budget.first_token_ms, linestyle="--", linewidth=1)
            if key == "bad_rate" and report.budget.max_bad_rate is not None:
                axis.axhline(report.budget.max_bad_rate, linestyle="--", linewidth=1)
        axis.set_title(title + (f" ({unit})" if unit else ""))
        axis.tick_params(axis="x", labelrotation=30, labelsize=7)
    for axis in list(axes.flat)[len(MEASURES) :]:
        axis.set_visible(False)
    axes.flat[0].legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path
