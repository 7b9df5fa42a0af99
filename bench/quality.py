"""int8: what dynamic quantization costs in perplexity and buys in speed, side by side.

The game's int8 path is ``generation.device.quantize_int8``: GPT-2's ``Conv1D`` layers
become ``nn.Linear`` (``quantize_dynamic`` skips Conv1D), then every Linear is quantized
to int8 dynamically. This bench loads the model once in fp32, quantizes a copy, and
scores both on the same test lines with the training evaluator's ``model_nll``, so the
only difference is the quantization. Perplexity is exact, so one pass suffices.

The test split is rebuilt with the training corpus code from the model's own config
(``lineage.json``: ``config_text``); when its sources are not on this machine the
tests' fixture corpus is used instead and the notes say so. Speed is measured two ways,
fp32 and int8 alternating in one loop: a fixed decode (greedy, KV cache, the game's 5
candidates x 40 tokens, no early stop), and the game's generator (first word, and tokens
per second over all candidates, since sampled narrations differ in length).

Example::

    python -m bench --only int8 --runs 5
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import sys
import tempfile
import time
import warnings
from pathlib import Path

from bench.corpora import use_nltk_data
from bench.measure import Figure, ratio
from bench.report import Section

REPO = Path(__file__).resolve().parent.parent
MAX_COST = 0.02
"""int8 may raise test perplexity by at most 2%."""
CANDIDATES = 5
NEW_TOKENS = 40
PROMPT = "<|action|> You push open the door of the lighthouse and climb the narrow stair."


def test_lines(model_dir: Path, scratch: Path, limit: int = 0) -> tuple[list[str], str]:
    """The model's test split, rebuilt from its recorded config, and where it came from.

    Falls back to the fixture corpus when the model has no recorded config or its sources
    are not here.
    """
    import tomllib

    from training.config import ConfigError, config_from_dict, load_config
    from training.corpus import CorpusError, build_corpus, corpus_sha256

    use_nltk_data()
    why = "the model records no config (lineage.json config_text)"
    lineage_path = model_dir / "lineage.json"
    lineage = json.loads(lineage_path.read_text("utf-8")) if lineage_path.is_file() else {}
    if lineage.get("config_text"):
        recorded = Path(lineage.get("corpus") or "")
        # The config's paths are relative to its own folder; on another checkout that is
        # the same file under training/configs.
        base_dir = recorded.parent if recorded.parent.is_dir() else REPO / "training" / "configs"
        try:
            config = config_from_dict(tomllib.loads(lineage["config_text"]), base_dir=base_dir)
            if all(any(config.root.glob(source.path)) for source in config.corpus.sources):
                build_corpus(config, scratch / "model-corpus")
                lines = _read(scratch / "model-corpus" / "test.txt", limit)
                same = corpus_sha256(scratch / "model-corpus") == lineage.get("corpus_sha256")
                check = "identical to" if same else "DIFFERENT from"
                return lines, (
                    f"the test split of '{lineage.get('name', model_dir.name)}' rebuilt from "
                    f"its config ({len(lines)} lines; corpus {check} the one it was trained on)"
                )
            why = f"its corpus sources are not under {config.root}"
        except (ConfigError, CorpusError, tomllib.TOMLDecodeError) as error:
            why = f"its recorded config does not build: {error}"
    fixture = load_config(REPO / "tests" / "fixtures" / "corpus" / "fixture.toml")
    build_corpus(fixture, scratch / "fixture-corpus")
    lines = _read(scratch / "fixture-corpus" / "test.txt", limit)
    lines += _read(scratch / "fixture-corpus" / "dev.txt", limit)
    return lines, f"the fixture corpus's test and dev lines ({len(lines)}), because {why}"


def _read(path: Path, limit: int) -> list[str]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines[:limit] if limit else lines


def perplexity(model, tokenizer, lines: list[str]) -> tuple[float, int]:
    """Perplexity over every token after each line's first, and the token count."""
    from training.evaluate import model_nll

    context = model.config.n_positions
    ids = tokenizer(lines, add_special_tokens=False)["input_ids"]
    sequences = [row[:context] for row in ids if len(row) > 1]
    nll, count = model_nll(model, sequences, tokenizer.eos_token_id, "cpu")
    return math.exp(nll / count), count


def fixed_decode_ms(model, ids) -> float:
    """Greedy decode of CANDIDATES x NEW_TOKENS with the KV cache, never stopping early."""
    import torch

    batch = ids.repeat(CANDIDATES, 1)
    started = time.perf_counter()
    with torch.inference_mode():
        model.generate(
            batch,
            attention_mask=torch.ones_like(batch),
            do_sample=False,
            max_new_tokens=NEW_TOKENS,
            min_new_tokens=NEW_TOKENS,
            use_cache=True,
            pad_token_id=model.config.eos_token_id,
        )
    return (time.perf_counter() - started) * 1000.0


def compare(model_dir: Path, runs: int, threads: int, label: str, max_lines: int = 0) -> Section:
    """Perplexity and speed of fp32 against int8 on one model directory."""
    import torch

    from textgamegen.config import SamplingSettings
    from textgamegen.models.loader import load_generator
    from textgamegen.narration.device import quantize_int8
    from training.evaluate import load_model

    torch.set_num_threads(threads)
    section = Section(
        f"int8 (Conv1D -> Linear, quantize_dynamic): {label} (CPU, {threads} threads)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        lines, origin = test_lines(model_dir, Path(tmp), max_lines)
    tokenizer, fp32 = load_model(model_dir, "cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao announces its move to torchao
        int8 = quantize_int8(copy.deepcopy(fp32)).eval()

    ppl32, tokens = perplexity(fp32, tokenizer, lines)
    ppl8, _ = perplexity(int8, tokenizer, lines)
    cost = ppl8 / ppl32 - 1.0
    section.figures += [
        Figure("test perplexity, fp32", "ppl", [ppl32]),
        Figure("test perplexity, int8", "ppl", [ppl8], goal="<= fp32 + 2%", met=cost <= MAX_COST),
    ]
    section.notes.append(
        f"perplexity cost of int8: {cost * 100:+.2f}% over {tokens} tokens of {origin}"
    )

    ids = tokenizer(PROMPT, return_tensors="pt").input_ids
    decode32 = Figure(f"fp32: decode {CANDIDATES} x {NEW_TOKENS} tokens (greedy, KV cache)", "ms")
    decode8 = Figure(f"int8: decode {CANDIDATES} x {NEW_TOKENS} tokens (greedy, KV cache)", "ms")
    fixed_decode_ms(fp32, ids)
    fixed_decode_ms(int8, ids)  # warm both up alike
    for _ in range(runs):
        decode32.runs.append(fixed_decode_ms(fp32, ids))
        decode8.runs.append(fixed_decode_ms(int8, ids))
    del fp32, int8

    from textgamegen.engine.content import ContentKind, ContentRequest

    sampling = SamplingSettings(num_candidates=CANDIDATES, max_new_tokens=NEW_TOKENS)
    names = {False: "fp32", True: "int8"}
    narrators, first, rate = {}, {}, {}
    for quantize, name in names.items():
        narrators[quantize] = load_generator(
            str(model_dir), "cpu", sampling, dtype="float32", quantize=quantize, threads=threads
        )
        first[quantize] = Figure(f"{name}: game narration, first word", "ms")
        rate[quantize] = Figure(f"{name}: game narration, tokens/s (all candidates)", "tok/s")
    for run in range(runs):
        request = ContentRequest(
            ContentKind.ACTION,
            subject="door",
            room="Old Hall",
            command="push open the door",
            seed=run,
        )
        for quantize in names:
            narration = narrators[quantize].generate(request)
            first[quantize].runs.append(narration.timings.first_token_ms)
            rate[quantize].runs.append(narration.timings.tokens_per_s)
    section.figures += [decode32, decode8, first[False], first[True], rate[False], rate[True]]
    section.ratios = {
        "int8 speed-up: fixed decode (fp32 / int8)": ratio(decode32, decode8),
        "int8 speed-up: first word (fp32 / int8)": ratio(first[False], first[True]),
        "int8 speed-up: narration tokens/s (int8 / fp32)": ratio(rate[True], rate[False]),
    }
    section.notes.append(
        "game narrations sample, so fp32 and int8 may write different lengths (hence "
        "tokens/s); the fixed decode does identical work in both"
    )
    return section


def run(runs: int, threads: int, model: str = "textgamegen") -> Section:
    """The int8 section for an installed model (the shipped one by default)."""
    from textgamegen.models.registry import find_model

    info = find_model(model)
    if info is None:
        section = Section(f"int8 (Conv1D -> Linear, quantize_dynamic): model {model!r}")
        section.notes.append(f"model {model!r} is not installed; skipped")
        return section
    print(f"[bench] int8: {info.path}", file=sys.stderr, flush=True)
    section = compare(info.path, runs, threads, f"'{info.name}'")
    digest = hashlib.sha256((info.path / "model.safetensors").read_bytes()).hexdigest()[:12]
    section.notes.append(f"weights sha256 {digest}")
    return section
