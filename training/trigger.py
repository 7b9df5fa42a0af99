"""The trigger: should ``train pipeline --if-triggered`` retrain now?

It reads the config's ``feedback`` sources (JSONL from ``textgamegen feedback export``)
and the lineage of the model registered under the config's name. New rows are the ones
later than the newest feedback that model was trained on (every row when it had none).
The pipeline runs when either ``[trigger]`` condition holds:

- at least ``min_new_rows`` new rows;
- more than ``max_bad_rate`` of the new rows rated bad or retried.

It also runs when no model is registered under the name yet. Otherwise it says why not,
and the command exits 0, so a cron job can call it as often as it likes::

    textgamegen train pipeline my.toml --if-triggered
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from textgamegen import checksum
from training.config import PipelineConfig
from training.corpus import source_files
from training.textfile import read_text

BAD_LABELS = ("bad", "retried")


@dataclass
class TriggerDecision:
    run: bool
    reasons: list[str] = field(default_factory=list)
    """Why it runs, or why not."""
    new_rows: int = 0
    bad_rate: float | None = None
    since: str = ""
    """The newest feedback the registered model was trained on ("" when none)."""


def feedback_rows(config: PipelineConfig) -> list[dict]:
    """Every row of the config's feedback sources (of each one's model and version), in
    file order."""
    from training.formats.feedback import source_rows

    rows: list[dict] = []
    for source in config.corpus.sources:
        if source.format != "feedback":
            continue
        for path in source_files(source, config.root, config.config_dir):
            text = read_text(path, source.encoding, config.corpus.max_undecodable).text
            rows += [row for _, row in source_rows(text, path, source)]
    return rows


def feedback_summary(config: PipelineConfig, stats: dict) -> dict:
    """What lineage.json records about the feedback a model was trained on."""
    rows = feedback_rows(config)
    files = {}
    used = excluded = held_out = 0
    for source in config.corpus.sources:
        if source.format != "feedback":
            continue
        info = stats.get("per_source", {}).get(source.name, {})
        used += sum(info.get("kept_after_dedup", {}).values())
        dropped = dict(info.get("dropped", {}))
        from training.formats.feedback import HELD_OUT

        held_out += dropped.pop(HELD_OUT, 0)
        excluded += sum(dropped.values())
        for path in source_files(source, config.root, config.config_dir):
            files[str(path)] = checksum.sha256(path)
    times = [str(row.get("time", "")) for row in rows if row.get("time")]
    labels: dict[str, int] = {}
    for row in rows:
        labels[row["label"]] = labels.get(row["label"], 0) + 1
    return {
        "rows": len(rows),
        "labels": labels,
        "lines_used": used,
        "lines_excluded": excluded,
        "lines_held_out": held_out,
        "latest": max(times, default=""),
        "files": files,
    }


def registered_lineage(models_dir: Path, name: str) -> dict | None:
    path = models_dir / name / "lineage.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def decide(config: PipelineConfig, models_dir: Path) -> TriggerDecision:
    """Whether the pipeline should run now, and why."""
    trigger = config.trigger
    lineage = registered_lineage(models_dir, config.name)
    if lineage is None:
        return TriggerDecision(
            True, [f"no model is registered as {config.name!r} in {models_dir} yet"]
        )
    if not any(source.format == "feedback" for source in config.corpus.sources):
        return TriggerDecision(
            False,
            [
                "the config has no feedback source (format = "
                '"feedback"), so there is nothing to trigger on'
            ],
        )
    since = str((lineage.get("feedback") or {}).get("latest", ""))
    rows = feedback_rows(config)
    new = [row for row in rows if str(row.get("time", "")) > since]
    bad = sum(1 for row in new if row.get("label") in BAD_LABELS)
    rate = bad / len(new) if new else None
    decision = TriggerDecision(False, [], len(new), rate, since)
    after = f"after {since}" if since else "in all"
    if trigger.min_new_rows and len(new) >= trigger.min_new_rows:
        decision.run = True
        decision.reasons.append(
            f"{len(new)} new feedback rows ({after}) >= min_new_rows {trigger.min_new_rows}"
        )
    if rate is not None and trigger.max_bad_rate < 1.0 and rate > trigger.max_bad_rate:
        decision.run = True
        decision.reasons.append(
            f"bad rate {rate:.0%} of the new rows > max_bad_rate {trigger.max_bad_rate:.0%}"
        )
    if not decision.run:
        shown = f"{rate:.0%}" if rate is not None else "n/a"
        decision.reasons.append(
            f"not triggered: {len(new)} new feedback rows ({after}), fewer than min_new_rows "
            f"{trigger.min_new_rows}; their bad rate {shown} is not above max_bad_rate "
            f"{trigger.max_bad_rate:.0%}"
        )
    return decision
