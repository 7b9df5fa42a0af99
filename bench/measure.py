"""Timing helpers shared by the benchmarks: repeated runs, medians, percentiles, ratios."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Figure:
    """One measured quantity: every run's value, summarised by the median.

    Attributes:
        name: what was measured ("ours: first word").
        unit: "ms", "tok/s", "s".
        runs: each run's value, in order.
        goal: a human-readable goal ("<= 50 ms"), or "".
        met: whether the goal is met (None when there is no goal).
    """

    name: str
    unit: str
    runs: list[float] = field(default_factory=list)
    goal: str = ""
    met: bool | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.runs) if self.runs else float("nan")

    def percentile(self, q: float) -> float:
        """The q-th percentile (0-100) by nearest rank; noisy for few runs, so report n too."""
        if not self.runs:
            return float("nan")
        ordered = sorted(self.runs)
        rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
        return ordered[rank]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "median": self.median,
            "runs": self.runs,
            "goal": self.goal,
            "met": self.met,
        }


def ratio(slow: Figure, fast: Figure) -> float:
    """How many times faster ``fast`` is than ``slow``, from their medians."""
    return slow.median / fast.median if fast.median else float("inf")


def paired_ratios(slow: Figure, fast: Figure) -> list[float]:
    """Per-run ratios of two figures measured alternately in the same loop."""
    return [s / f for s, f in zip(slow.runs, fast.runs, strict=False) if f]


def time_ms(call: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``call`` once; return (milliseconds, its result)."""
    start = time.perf_counter()
    result = call()
    return (time.perf_counter() - start) * 1000.0, result
