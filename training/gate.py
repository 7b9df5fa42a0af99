"""Stage 5, gate: does the evaluated model deserve registration?

Checks, each from the config's ``[gate]`` section: test perplexity under a fixed bound;
not worse than the production version of the model registered under the same name (in
bits per byte when both have it, since the two may not share a tokenizer); every tag
better than the bigram baseline; optionally every tag better than the base before
fine-tuning (``beat_base``, in bits per byte, with the tag rows the base lacks set to the
mean of its own rows); latency within budget; and latency as a ratio to the production
version's, both measured by the gate in the same run on the same fixed requests
(``max_latency_ratio``). A gate that made no check at all refuses. A failing model stays
in the run directory; the pipeline exits non-zero with the reasons. The decision, every
check and the production figures it was held to go into the model's lineage.json
(``gate``) and its card.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from training.config import EvaluateConfig, GateConfig

COMPARED_FIGURES = ("perplexity", "bits_per_byte", "latency_ms_median", "first_token_ms_median")
"""The production model's figures the decision records beside its own."""


@dataclass
class GateDecision:
    passed: bool
    reasons: list[str] = field(default_factory=list)
    """Why it failed (empty when it passed)."""
    checks: list[str] = field(default_factory=list)
    """Every check made, passed or not, for the log."""
    figures: dict = field(default_factory=dict)
    """What the gate measured itself (the latency of both models on the fixed requests)."""

    def add(self, ok: bool, text: str) -> None:
        """One more check made (the pipeline's feedback check)."""
        self.checks.append(("pass: " if ok else "FAIL: ") + text)
        if not ok:
            self.passed = False
            self.reasons.append(text)

    def refuse_if_empty(self) -> None:
        """A gate that checked nothing lets anything through: refuse instead."""
        if not self.checks:
            self.add(
                False,
                "the gate checked nothing (no max_perplexity, no latency bound, no baseline "
                "or base to beat, no registered model or held-out feedback to compare with): "
                "set at least one check in [gate]",
            )

    def record(self, name: str, against: int | None, production: dict | None) -> dict:
        """What lineage.json records: the decision, every check, and what it was held to."""
        return {
            "decision": "passed" if self.passed else "refused",
            "checks": list(self.checks),
            "reasons": list(self.reasons),
            "figures": dict(self.figures),
            "compared_with": (
                {
                    "name": name,
                    "version": against,
                    **{k: production.get(k) for k in COMPARED_FIGURES if k in production},
                }
                if production is not None
                else None
            ),
            "decided_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def card_section(self, name: str, against: int | None) -> str:
        """The model card's "Gate" section."""
        verdict = "passed" if self.passed else "REFUSED"
        held = (
            f"held to the production version {against} of {name}"
            if against is not None
            else "with no production model to compare with"
        )
        lines = [f"\n## Gate\n\nThe gate {verdict}, {held}:\n"]
        lines += [f"- {check}" for check in self.checks]
        return "\n".join(lines) + "\n"


def check_gate(metrics: dict, config: GateConfig, registered: dict | None = None) -> GateDecision:
    """Compare a model's metrics with the gate's bounds.

    Args:
        metrics: the new model's metrics.json.
        config: the bounds.
        registered: metrics.json of the model registered under the same name, if any.

    Returns:
        The decision, with a reason per failed check.
    """
    reasons: list[str] = []
    checks: list[str] = []

    def check(ok: bool, text: str) -> None:
        checks.append(("pass: " if ok else "FAIL: ") + text)
        if not ok:
            reasons.append(text)

    perplexity = metrics.get("perplexity")
    if perplexity is None:
        check(False, "metrics have no perplexity")
        return GateDecision(False, reasons, checks)
    if config.max_perplexity:
        check(
            perplexity <= config.max_perplexity,
            f"test perplexity {perplexity:.2f} must be <= max_perplexity {config.max_perplexity:g}",
        )
    if (
        config.compare_registered
        and registered
        and registered.get("bits_per_byte")
        and metrics.get("bits_per_byte")
    ):
        bpb, before = metrics["bits_per_byte"], registered["bits_per_byte"]
        bound = before * (1 + config.tolerance)
        check(
            bpb <= bound,
            f"test bits per byte {bpb:.3f} must not be worse than the registered model's "
            f"{before:.3f}" + (f" (+{config.tolerance:.0%})" if config.tolerance else ""),
        )
    elif config.compare_registered and registered and registered.get("perplexity"):
        bound = registered["perplexity"] * (1 + config.tolerance)
        check(
            perplexity <= bound,
            f"test perplexity {perplexity:.2f} must not be worse than the registered model's "
            f"{registered['perplexity']:.2f}"
            + (f" (+{config.tolerance:.0%})" if config.tolerance else ""),
        )
    if config.beat_baseline:
        baseline = metrics.get("baseline", {}).get("perplexity_per_tag", {})
        for tag, value in metrics.get("perplexity_per_tag", {}).items():
            if tag in baseline:
                check(
                    value < baseline[tag],
                    f"{tag} perplexity {value:.2f} must beat the "
                    f"bigram baseline's {baseline[tag]:.2f}",
                )
    if config.beat_base:
        base = metrics.get("base") or {}
        base_tags = base.get("bits_per_byte_per_tag") or {}
        ours = metrics.get("bits_per_byte_per_tag") or {}
        if not base_tags or not ours:
            check(
                False,
                "beat_base: the metrics lack bits per byte of the model or of the "
                "base before fine-tuning (rerun the evaluate stage)",
            )
        for tag, value in ours.items():
            if tag in base_tags:
                check(
                    value < base_tags[tag],
                    f"{tag} bits per byte {value:.3f} must beat the "
                    f"base {base.get('name', '')} before fine-tuning ({base_tags[tag]:.3f})",
                )
            elif base_tags:
                check(False, f"beat_base: the base has no {tag} figure")
    if config.max_latency_ms:
        latency = metrics.get("latency_ms_median", float("inf"))
        check(
            latency <= config.max_latency_ms,
            f"median narration latency {latency:.0f} ms must be <= {config.max_latency_ms:g} ms",
        )
    if config.max_first_token_ms:
        first = metrics.get("first_token_ms_median", float("inf"))
        check(
            first <= config.max_first_token_ms,
            f"median first-token latency {first:.0f} ms must be <= "
            f"{config.max_first_token_ms:g} ms",
        )
    return GateDecision(not reasons, reasons, checks)


def latency_against_production(
    candidate: Path, production: Path, corpus_dir: Path, config: EvaluateConfig, requests: int
) -> dict:
    """Both models' median ms per narration on the same fixed requests (the first
    ``requests`` test lines), measured in turns in this process, so that the load of the
    moment weighs on both alike; and their ratio (candidate / production).
    """
    import torch

    from training.evaluate import (
        evaluation_device,
        load_model,
        measure_latency,
        read_test_split,
    )

    device = evaluation_device(config.device)
    lines = read_test_split(corpus_dir, requests)
    loaded = {
        "candidate": load_model(candidate, device),
        "production": load_model(production, device),
    }
    times: dict[str, list[float]] = {"candidate": [], "production": []}
    for line in lines:
        for who, (tokenizer, model) in loaded.items():
            torch.manual_seed(config.seed)
            measured = measure_latency(
                model, tokenizer, device, config.latency_runs, config.narration_tokens, line
            )
            times[who].append(measured["latency_ms_median"])
    medians = {who: statistics.median(values) for who, values in times.items()}
    return {
        "latency_requests": len(lines),
        "latency_ms_candidate": round(medians["candidate"], 1),
        "latency_ms_production": round(medians["production"], 1),
        "latency_ratio": round(medians["candidate"] / max(medians["production"], 1e-9), 3),
    }


def check_latency_ratio(decision: GateDecision, figures: dict, bound: float) -> None:
    """The latency check against production, from ``latency_against_production``."""
    decision.figures.update(figures)
    decision.add(
        figures["latency_ratio"] <= bound,
        f"median narration latency {figures['latency_ms_candidate']:.0f} ms is "
        f"{figures['latency_ratio']:.2f}x the production version's "
        f"{figures['latency_ms_production']:.0f} ms on the same "
        f"{figures['latency_requests']} requests, must be <= {bound:g}x",
    )
