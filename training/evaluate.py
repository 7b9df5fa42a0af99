"""Stage 4, evaluate: test perplexity (overall and per tag, with a bigram baseline),
generation latency, samples; writes metrics.json and the model card into the model dir.

Examples::

    python -m training evaluate runs/x/finetune/model --corpus runs/x/corpus
    python -m training evaluate assets/models/textgamegen --corpus runs/x/corpus --no-write

Perplexity is scored per test line: every token after the line's tag (the text and the
closing ``<|endoftext|>``), so lines never see each other and each tag gets its own number.
Latency is the median wall time of a whole narration (``narration_tokens`` new tokens,
sampled with the game's settings) and of the first token, after one warm-up.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

from training import TAGS, tag_token
from training.baseline import Bigram
from training.config import EvaluateConfig
from training.validate import line_tag

# Openings for the latency run and the samples, one per kind, as the game writes them.
OPENINGS = {"action": "You", "dialogue": '"', "quest": "You"}


class EvaluateError(RuntimeError):
    """The model or corpus cannot be evaluated; the message says why."""


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise EvaluateError("--device cuda: no CUDA device here")
    return name


def load_model(model_dir: Path, device: str = "cpu"):
    """Tokenizer and model from an HF directory (safetensors only), in eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if not (model_dir / "model.safetensors").is_file():
        raise EvaluateError(f"{model_dir}: no model.safetensors (pickled weights are not loaded)")
    import torch

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, use_safetensors=True,
                                                 dtype=torch.float32).to(device).eval()
    return tokenizer, model


def _split_ids(tokenizer, lines: list[str], context: int) -> dict[str, list[list[int]]]:
    by_tag: dict[str, list[list[int]]] = {t: [] for t in TAGS}
    ids = tokenizer(lines, add_special_tokens=False)["input_ids"]
    for line, tokens in zip(lines, ids):
        tag = line_tag(line)
        if tag and len(tokens) > 1:
            by_tag[tag].append(tokens[:context])
    return by_tag


def model_nll(model, sequences: list[list[int]], pad_id: int, device: str,
              batch_size: int = 32) -> tuple[float, int]:
    """Summed NLL of every token after the first, over all sequences, and the token count."""
    import torch

    total, count = 0.0, 0
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = [sequences[i] for i in order[start:start + batch_size]]
            width = max(len(s) for s in batch)
            ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, seq in enumerate(batch):
                ids[row, :len(seq)] = torch.tensor(seq)
                mask[row, :len(seq)] = 1
            ids, mask = ids.to(device), mask.to(device)
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
            logprobs = torch.log_softmax(logits[:, :-1], dim=-1)
            targets = ids[:, 1:]
            picked = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            keep = mask[:, 1:].bool()
            total -= picked[keep].sum().item()
            count += int(keep.sum().item())
    return total, count


def _perplexity(nll: float, count: int) -> float:
    return round(math.exp(nll / count), 3) if count else float("nan")


def sampling_kwargs(tokenizer) -> dict:
    """The game's sampling defaults (textgamegen.config.SamplingSettings) for generate()."""
    from textgamegen.config import SamplingSettings

    sampling = SamplingSettings()
    return {"do_sample": sampling.do_sample, "top_k": sampling.top_k, "top_p": sampling.top_p,
            "temperature": sampling.temperature,
            "repetition_penalty": sampling.repetition_penalty,
            "pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id}


def measure_latency(model, tokenizer, device: str, runs: int, tokens: int,
                    context_line: str) -> dict:
    """Median ms per narration of ``tokens`` new tokens, ms to the first token, tokens/s."""
    import torch

    prompt = f"{context_line} {tag_token('action')} {OPENINGS['action']}"
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    ids = ids[:, -(model.config.n_positions - tokens):].to(device)
    kwargs = {**sampling_kwargs(tokenizer), "attention_mask": torch.ones_like(ids)}
    whole, first = [], []
    with torch.inference_mode():
        model.generate(ids, max_new_tokens=4, **kwargs)  # warm-up
        for run in range(runs):
            torch.manual_seed(run)
            started = time.perf_counter()
            model.generate(ids, max_new_tokens=1, **kwargs)
            first.append(time.perf_counter() - started)
            started = time.perf_counter()
            model.generate(ids, max_new_tokens=tokens, min_new_tokens=tokens, **kwargs)
            whole.append(time.perf_counter() - started)
    median = statistics.median(whole)
    return {"latency_ms_median": round(median * 1000, 1),
            "first_token_ms_median": round(statistics.median(first) * 1000, 1),
            "tokens_per_s": round(tokens / median, 1),
            "latency_tokens": tokens, "latency_prompt_tokens": int(ids.shape[1])}


def samples(model, tokenizer, device: str, per_tag: int, max_new_tokens: int,
            seed: int) -> dict[str, list[str]]:
    """A few generations per tag from the tag and a one-word opening."""
    import torch

    result: dict[str, list[str]] = {}
    kwargs = sampling_kwargs(tokenizer)
    with torch.inference_mode():
        for tag in TAGS:
            prompt = f"{tag_token(tag)} {OPENINGS[tag]}"
            ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
            torch.manual_seed(seed)
            batch = ids.to(device).repeat(per_tag, 1)
            out = model.generate(batch, attention_mask=torch.ones_like(batch),
                                 max_new_tokens=max_new_tokens, **kwargs)
            result[tag] = [tokenizer.decode(row, skip_special_tokens=True).strip()
                           for row in out]
    return result


def evaluate_model(model_dir: Path, corpus_dir: Path, config: EvaluateConfig) -> dict:
    """Measure a model; return the metrics (see MODEL_API.md's metrics.json).

    Args:
        model_dir: an HF model directory with model.safetensors.
        corpus_dir: the corpus it was trained on (train/dev for the baseline, test scored).
        config: what to measure.

    Returns:
        The metrics dict.
    """
    import torch

    device = _device(config.device)
    tokenizer, model = load_model(model_dir, device)
    context = model.config.n_positions

    def lines(split: str) -> list[str]:
        path = corpus_dir / f"{split}.txt"
        if not path.is_file():
            raise EvaluateError(f"{path}: missing; build the corpus first")
        return [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]

    test_lines = lines("test")
    if config.max_test_lines:
        test_lines = test_lines[:config.max_test_lines]
    test = _split_ids(tokenizer, test_lines, context)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    per_tag, total_nll, total_count = {}, 0.0, 0
    for tag, sequences in test.items():
        if not sequences:
            continue
        nll, count = model_nll(model, sequences, pad, device)
        per_tag[tag] = _perplexity(nll, count)
        total_nll, total_count = total_nll + nll, total_count + count
    if not total_count:
        raise EvaluateError(f"{corpus_dir / 'test.txt'}: no scorable lines")

    train_ids = [s for seqs in _split_ids(tokenizer, lines("train"), context).values()
                 for s in seqs]
    dev_ids = [s for seqs in _split_ids(tokenizer, lines("dev"), context).values() for s in seqs]
    bigram = Bigram(vocab_size=len(tokenizer)).fit(train_ids)
    lam = bigram.tune(dev_ids)
    baseline = {}
    for tag, sequences in test.items():
        if sequences:
            nll = [bigram.nll(s) for s in sequences]
            baseline[tag] = _perplexity(sum(n for n, _ in nll), sum(c for _, c in nll))

    torch.manual_seed(config.seed)
    latency = measure_latency(model, tokenizer, device, config.latency_runs,
                              config.narration_tokens, test_lines[0])
    metrics = {
        "perplexity": _perplexity(total_nll, total_count),
        "perplexity_per_tag": per_tag,
        "baseline": {"kind": "bigram", "smoothing": f"Jelinek-Mercer, lambda {lam} (on dev)",
                     "perplexity_per_tag": baseline},
        **latency,
        "latency_device": device,
        "latency_threads": torch.get_num_threads() if device == "cpu" else None,
        "samples": samples(model, tokenizer, device, config.samples_per_tag,
                           config.max_new_tokens, config.seed),
        "test_lines": sum(len(s) for s in test.values()),
        "test_tokens": total_count,
        "parameters": sum(p.numel() for p in model.parameters()),
        "evaluated_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return metrics


def write_metrics(model_dir: Path, metrics: dict) -> Path:
    path = model_dir / "metrics.json"
    path.write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
