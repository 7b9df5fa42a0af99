"""The feedback check of the gate: a retrained model must not be worse than the model it
replaces on the players' held-out good lines (``training/formats/feedback.py``).

Both models score the target of every held-out line (its text and end token) given what
comes before it: the tag, and for a conditioned line its story and facts. Two models may
have different tokenizers (each scratch model trains its own), so the comparison is per
word, not per token: exp(summed NLL / words). Lower is better.

Run by the pipeline after the gate's own checks, against the production version of the
name (a full model or a LoRA adapter); with no held-out lines or no registered model there
is nothing to compare and the check passes, saying so.
"""

from __future__ import annotations

import math
from pathlib import Path

from training.config import PipelineConfig
from training.corpus import corpus_line, source_files
from training.textfile import read_text


def held_out_lines(config: PipelineConfig) -> list[str]:
    """The held-out good lines of every feedback source, as corpus lines."""
    from training.formats.feedback import held_out_examples

    lines = []
    for source in config.corpus.sources:
        if source.format != "feedback":
            continue
        for path in source_files(source, config.root, config.config_dir):
            text = read_text(path, source.encoding, config.corpus.max_undecodable).text
            lines += [corpus_line(e) for e in held_out_examples(text, path, source, config.corpus)]
    return lines


def _target_nll(model, tokenizer, line: str, device: str) -> float:
    """Summed NLL of a corpus line's target (its text and end token), given the rest."""
    import torch

    from textgamegen.narration.decode import context_window
    from textgamegen.text.layout import split_training_line
    from training import tag_token

    prompt, tag, _ = split_training_line(line)
    head = len(tokenizer(prompt + tag_token(tag), add_special_tokens=False)["input_ids"])
    ids = tokenizer(line, add_special_tokens=False)["input_ids"]
    context = context_window(model.config)
    cut = max(0, len(ids) - context)  # a long prompt loses its oldest tokens, never the target
    ids, head = ids[cut:], max(1, head - cut)
    with torch.inference_mode():
        tensor = torch.tensor([ids], dtype=torch.long, device=device)
        logprobs = torch.log_softmax(model(input_ids=tensor).logits.float()[0, :-1], dim=-1)
        picked = logprobs.gather(-1, tensor[0, 1:].unsqueeze(-1)).squeeze(-1)
    return float(-picked[head - 1 :].sum().item())


def word_perplexity(model_dir: Path, lines: list[str], device: str = "cpu") -> float:
    """exp(NLL of every line's target / the target's words, plus one for the end token)."""
    from textgamegen.text.layout import split_training_line
    from training.evaluate import load_model

    tokenizer, model = load_model(model_dir, device)
    nll = sum(_target_nll(model, tokenizer, line, device) for line in lines)
    words = sum(len(split_training_line(line)[2].split()) + 1 for line in lines)
    if not words:
        return float("nan")
    # A very bad model overflows exp(): its perplexity is infinite, not an error.
    return round(math.exp(nll / words), 3) if nll / words < 700 else float("inf")


def check_feedback(
    config: PipelineConfig, model_dir: Path, registered_dir: Path, tolerance: float = 0.0
) -> tuple[bool, str]:
    """(passed, what was checked) for the new model against the registered one."""
    lines = held_out_lines(config)
    if not lines:
        return True, "feedback: no held-out good lines, nothing to compare"
    from textgamegen.models.registry import directory_problem

    # The registered model is the name's production version: a full model or, as the
    # shipped narrators are, a LoRA adapter (adapter_model.safetensors and base.json).
    if not registered_dir.is_dir() or directory_problem(registered_dir):
        return True, (
            f"feedback: no registered model in {registered_dir} to compare "
            f"on {len(lines)} held-out good lines"
        )
    new = word_perplexity(model_dir, lines)
    old = word_perplexity(registered_dir, lines)
    bound = old * (1 + tolerance)
    text = (
        f"perplexity per word on {len(lines)} held-out good feedback lines {new:.2f} "
        f"must not be worse than the registered model's {old:.2f}"
    )
    return new <= bound, text
