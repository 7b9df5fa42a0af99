"""The HF-style model card (README.md) of a model directory.

It states what the model is, per-tag test perplexity against the bigram baseline,
latency, samples, the data sources with their licences, and the exact training config
and command, from metrics.json, lineage.json and the corpus stats.
"""

from __future__ import annotations

from pathlib import Path

from training import TAGS


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}"
    return "n/a" if value is None else str(value)


def render_card(name: str, metrics: dict, lineage: dict | None = None,
                sources: list[dict] | None = None, corpus_stats: dict | None = None) -> str:
    """The card's Markdown.

    Args:
        name: the registry name.
        metrics: metrics.json.
        lineage: lineage.json (base, command, config text, versions), if known.
        sources: [{"name", "path", "format", "licence", "origin"}] from the config.
        corpus_stats: the corpus's stats.json, for line counts per source and tag.

    Returns:
        The README.md text.
    """
    lineage = lineage or {}
    sources = sources or []
    stats = corpus_stats or {}
    licences = sorted({s.get("licence", "") for s in sources if s.get("licence")})
    out = [
        "---",
        "library_name: transformers",
        "pipeline_tag: text-generation",
        "tags: [gpt2, text-adventure, textgamegen]",
        "language: [en]",
        "license: other",
        "---",
        "",
        f"# {name}",
        "",
        f"A GPT-2-architecture narrator for TextGameGen, built with `{lineage.get('command', 'textgamegen train pipeline')}`.",
        f"Base: `{lineage.get('base', 'unknown')}`; {metrics.get('parameters', 0):,} parameters.",
        "It writes one line of game prose after a kind tag: `<|action|>`, `<|dialogue|>` or",
        "`<|quest|>`, and ends it with `<|endoftext|>`. A prompt ends with the tag, a space and",
        'an opening, e.g. `<|action|> You push the door`.',
        "",
        "## Test perplexity (lower is better)",
        "",
        "Scored per test line on every token after the tag. The baseline is a smoothed bigram",
        "model on the same tokenizer, trained on the same train split, scored on the same tokens.",
        "",
        "| kind | this model | bigram baseline |",
        "|---|---|---|",
    ]
    base_tags = metrics.get("baseline", {}).get("perplexity_per_tag", {})
    for tag in TAGS:
        if tag in metrics.get("perplexity_per_tag", {}):
            out.append(f"| {tag} | {_fmt(metrics['perplexity_per_tag'][tag])} | "
                       f"{_fmt(base_tags.get(tag))} |")
    out += [f"| **all** | **{_fmt(metrics.get('perplexity'))}** | |", "",
            f"Baseline smoothing: {metrics.get('baseline', {}).get('smoothing', 'n/a')}.",
            (f"Test set: {metrics.get('test_lines', 'n/a')} lines, "
            f"{metrics.get('test_tokens', 'n/a')} tokens."), "",
            "## Latency", "",
            f"On {metrics.get('latency_device', 'n/a')}"
            + (f" ({metrics['latency_threads']} threads)" if metrics.get("latency_threads")
               else "")
            + ", float32, sampling with the game's defaults:", "",
            (f"- median {_fmt(metrics.get('latency_ms_median'))} ms per narration of "
            f"{metrics.get('latency_tokens', 30)} tokens ({_fmt(metrics.get('tokens_per_s'))} "
            f"tokens/s);"),
            f"- median {_fmt(metrics.get('first_token_ms_median'))} ms to the first token.", "",
            "## Samples", ""]
    for tag, texts in metrics.get("samples", {}).items():
        for text in texts:
            out.append(f"- `{tag}`: {text}")
    out += ["", "## Training data", ""]
    per_source = stats.get("per_source", {})
    if sources:
        out += ["| source | files | format | lines kept (per kind) | licence | origin |",
                "|---|---|---|---|---|---|"]
        for source in sources:
            kept = per_source.get(source["name"], {}).get("kept_after_dedup", {})
            kept_text = ", ".join(f"{t} {n}" for t, n in sorted(kept.items())) or "n/a"
            out.append(f"| {source['name']} | `{source['path']}` | {source['format']} | "
                       f"{kept_text} | {source.get('licence') or 'not stated'} | "
                       f"{source.get('origin') or ''} |")
        out.append("")
    if stats:
        out += [(f"Corpus: {stats.get('total_lines')} de-duplicated lines, split "
                f"{stats.get('splits')} with seed {stats.get('seed')}; sha256 of the splits: "
                f"`{lineage.get('corpus_sha256', 'n/a')}`."), ""]
    out += _feedback_lines(per_source, lineage.get("feedback"))
    if licences:
        out += ["Licences of the training texts: " + "; ".join(licences) + ".",
                "The weights are a statistical model of these texts; check the per-source",
                "notes before redistributing outside the USA.", ""]
    out += ["## How it was trained", ""]
    if lineage.get("command"):
        out += ["```bash", lineage["command"], "```", ""]
    if lineage.get("config_text"):
        out += [f"Config (`{lineage.get('corpus', 'config')}`):", "", "```toml",
                lineage["config_text"].rstrip(), "```", ""]
    finetune = lineage.get("finetune", {})
    if finetune:
        out += [(f"Fine-tune: {finetune.get('steps')} steps, {finetune.get('precision')}, "
                f"{finetune.get('seconds')} s, dev perplexity "
                f"{_fmt(finetune.get('dev_perplexity'))}."), ""]
    packages = lineage.get("packages", {})
    if packages:
        out.append("Packages: " + ", ".join(f"{k} {v}" for k, v in sorted(packages.items()))
                   + f"; git commit `{lineage.get('git_commit', 'n/a')}`; created "
                   f"{lineage.get('created_at', 'n/a')}.")
    out.append("")
    return "\n".join(out)


def _feedback_lines(per_source: dict, feedback: dict | None) -> list[str]:
    """How much player feedback went in (``feedback`` sources), and what was left out."""
    sources = {n: s for n, s in per_source.items() if s.get("format") == "feedback"}
    if not sources:
        return []
    used = sum(sum(s.get("kept_after_dedup", {}).values()) for s in sources.values())
    dropped: dict[str, int] = {}
    for info in sources.values():
        for reason, count in info.get("dropped", {}).items():
            dropped[reason] = dropped.get(reason, 0) + count
    left_out = ", ".join(f"{reason} {n}" for reason, n in sorted(dropped.items())) or "none"
    out = ["## Player feedback", "",
           f"{used} lines rated good or kept without retry by players went into the corpus "
           f"(from {', '.join(sorted(sources))}); left out: {left_out}."]
    if feedback:
        out.append(f"Feedback rows read: {feedback.get('rows')}, the newest from "
                   f"{feedback.get('latest') or 'n/a'}.")
    return out + [""]


def write_card(model_dir: Path, text: str) -> Path:
    path = model_dir / "README.md"
    path.write_text(text, encoding="utf-8")
    return path
