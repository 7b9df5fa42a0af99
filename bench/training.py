"""Training throughput: our fine-tune against a plain HF Trainer in fp32, side by side.

Ours is ``training.finetune.finetune`` exactly as the pipeline calls it (packed blocks,
bf16 autocast where the CPU runs bf16 natively, else fp32). The bench only adds a clock:
``transformers.Trainer`` is swapped, for the call, for a subclass that times each
optimizer step and counts the tokens in each batch. The plain Trainer trains the same
GPT-2 shape, from the same tokenizer and seed, on the same lines with the same
TrainingArguments (batch, accumulation, schedule) except that it is fp32 and is fed the
usual way: one example per line, padded to the longest in the batch
(``DataCollatorForLanguageModeling``).

tokens/s counts the tokens the model learns from (padding excluded) over optimizer steps
2..N (step 1 pays for warm-up); the two run alternately, and the ratio is taken per pair
of runs, then the median.

The lines are a slice of a corpus built with the training corpus code: from
the shared corpora (one novel) when they are there, else from the tests' fixture corpus,
repeated to fill the steps (the notes say which).

Example::

    python -m bench --only training --runs 3
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

from bench.corpora import use_nltk_data
from bench.measure import Figure
from bench.report import Section

REPO = Path(__file__).resolve().parent.parent
SHAPE = "small"
"""The pipeline's default scratch size (4 layers x 256, context 256)."""
BLOCK = 128
BATCH = 8
STEPS = 8
LINES = 800
"""Enough lines that neither arm finishes an epoch (and evaluates) inside the timed steps."""


def corpus_lines(scratch: Path) -> tuple[list[str], list[str], str]:
    """Train and dev lines for the bench, and where they came from."""
    from training.config import CorpusConfig, PipelineConfig, Source, load_config
    from training.corpus import build_corpus

    shipped = load_config(REPO / "training" / "configs" / "textgamegen.toml")
    novels = sorted(shipped.root.glob("novels/*.txt"))
    if novels:
        config = PipelineConfig(
            name="bench",
            corpus=CorpusConfig(sources=[Source(path=f"novels/{novels[0].name}", format="novel")]),
            root=shipped.root,
        )
        origin = f"{novels[0].name} from {shipped.root}"
    else:
        config = load_config(REPO / "tests" / "fixtures" / "corpus" / "fixture.toml")
        origin = "the fixture corpus (tests/fixtures/corpus), repeated"
    with warnings_quiet():
        result = build_corpus(config, scratch / "built")
    train, dev = result.splits["train"], result.splits["dev"]
    while len(train) < LINES:
        train = train + train
    return train[:LINES], dev[:64], origin


@contextlib.contextmanager
def warnings_quiet():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


class StepClock:
    """Times optimizer steps and counts the tokens of each batch, in the order used."""

    def __init__(self) -> None:
        self.step_ends: list[float] = []
        self.batch_tokens: list[int] = []
        self.accumulation = 1

    def count(self, batch: dict) -> None:
        mask = batch.get("attention_mask")
        ids = batch["input_ids"]
        self.batch_tokens.append(int(mask.sum()) if mask is not None else int(ids.numel()))

    def tokens_per_second(self) -> float:
        """Tokens learnt from per second over steps 2..N."""
        steps = len(self.step_ends)
        if steps < 2:
            raise RuntimeError("the run made fewer than two optimizer steps")
        # Batches are consumed in order, ``accumulation`` per step; the loader may collate
        # one ahead, so count by position, not by time.
        tokens = sum(self.batch_tokens[self.accumulation : self.accumulation * steps])
        return tokens / (self.step_ends[-1] - self.step_ends[0])


def timed_trainer(clocks: list[StepClock]):
    """A ``transformers.Trainer`` subclass that adds a StepClock to every trainer made."""
    from transformers import Trainer, TrainerCallback

    class ClockCallback(TrainerCallback):
        def __init__(self, clock: StepClock) -> None:
            self.clock = clock

        def on_train_begin(self, args, state, control, **kwargs):
            self.clock.accumulation = args.gradient_accumulation_steps

        def on_step_end(self, args, state, control, **kwargs):
            self.clock.step_ends.append(time.perf_counter())

    class TimedTrainer(Trainer):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            clock = StepClock()
            clocks.append(clock)
            self.add_callback(ClockCallback(clock))
            collate = self.data_collator

            def counting(features):
                batch = collate(features)
                clock.count(batch)
                return batch

            self.data_collator = counting

    return TimedTrainer


@contextlib.contextmanager
def quiet(log: Path):
    """The Trainer's prints and progress bars go to a file, not the bench's table."""
    with (
        open(log, "a", encoding="utf-8") as handle,
        contextlib.redirect_stdout(handle),
        contextlib.redirect_stderr(handle),
    ):
        yield


def ours(corpus: Path, out: Path, log: Path) -> tuple[float, str]:
    """One run of the pipeline's fine-tune; (tokens/s, precision used)."""
    import json

    import transformers.trainer

    from training.config import FinetuneConfig
    from training.finetune import finetune

    config = FinetuneConfig(
        base=f"scratch:{SHAPE}",
        vocab_size=8192,
        block_size=BLOCK,
        epochs=1,
        max_steps=STEPS,
        effective_batch=BATCH,
        batch_size=BATCH,
        learning_rate=1e-3,
        precision="auto",
        save_total_limit=1,
        logging_steps=STEPS,
    )
    clocks: list[StepClock] = []
    timed = timed_trainer(clocks)
    # ``from transformers import Trainer`` reads the lazy module's dict, or resolves
    # through transformers.trainer when that holds nothing yet: swap both.
    with (
        mock.patch.dict(transformers.__dict__, {"Trainer": timed}),
        mock.patch.object(transformers.trainer, "Trainer", timed),
        quiet(log),
    ):
        finetune(corpus, out, config, device="cpu")
    if not clocks:
        raise RuntimeError(
            "training.finetune no longer builds transformers.Trainer; "
            "bench/training.py cannot time it"
        )
    precision = json.loads((out / "finetune.json").read_text(encoding="utf-8"))["precision"]
    return clocks[-1].tokens_per_second(), precision


def plain(
    corpus: Path, tokenizer_dir: Path, out: Path, log: Path, threads: int, batch: int = BATCH
) -> float:
    """One run of a plain HF Trainer: fp32, a padded example per line; tokens/s.

    Args:
        batch: lines per step; ``BATCH`` is ours (same TrainingArguments), a larger one
            gives the plain Trainer as many tokens per step as ours.
    """
    import torch
    from transformers import (
        AutoTokenizer,
        DataCollatorForLanguageModeling,
        GPT2Config,
        GPT2LMHeadModel,
        TrainingArguments,
    )

    from training.finetune import read_split
    from training.modelsizes import SIZES

    size = SIZES[SHAPE]
    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    lines = read_split(corpus, "train")
    encoded = tokenizer(lines, add_special_tokens=False, truncation=True, max_length=BLOCK)
    examples = [
        {"input_ids": ids, "attention_mask": mask}
        for ids, mask in zip(encoded["input_ids"], encoded["attention_mask"], strict=False)
    ]
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=size.n_positions,
        n_embd=size.n_embd,
        n_layer=size.n_layer,
        n_head=size.n_head,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(1)
    model = GPT2LMHeadModel(config)
    args = TrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=1,
        max_steps=STEPS,
        learning_rate=1e-3,
        lr_scheduler_type="cosine",
        warmup_steps=1,
        weight_decay=0.1,
        eval_strategy="no",
        save_strategy="no",
        logging_steps=STEPS,
        use_cpu=True,
        seed=1,
        data_seed=1,
        report_to=[],
        dataloader_num_workers=0,
    )
    clocks: list[StepClock] = []
    trainer = timed_trainer(clocks)(
        model=model,
        args=args,
        train_dataset=examples,
        processing_class=tokenizer,
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
    )
    with quiet(log):
        trainer.train()
    return clocks[-1].tokens_per_second()


def mean_tokens_per_line(tokenizer_dir: Path, lines: list[str]) -> float:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    ids = tokenizer(lines, add_special_tokens=False, truncation=True, max_length=BLOCK)
    return sum(len(row) for row in ids["input_ids"]) / len(lines)


def run(runs: int, threads: int) -> Section:
    """Alternate ours and the plain Trainer ``runs`` times; goal: ours >= 1.4x."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    use_nltk_data()
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    section = Section(
        f"Training throughput: scratch:{SHAPE} GPT-2, {STEPS} steps (CPU, {threads} threads)"
    )
    ours_figure = Figure(
        f"ours (training.finetune, {BATCH} packed blocks of {BLOCK}): tokens/s", "tok/s"
    )
    plain_figure = Figure(f"plain HF Trainer fp32 ({BATCH} padded lines a step): tokens/s", "tok/s")
    matched_figure = Figure(
        "plain HF Trainer fp32 (as many tokens a step as ours): tokens/s", "tok/s"
    )
    ratios: list[float] = []
    matched_ratios: list[float] = []
    precision = "?"
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        train, dev, origin = corpus_lines(scratch)
        corpus = scratch / "corpus"
        corpus.mkdir()
        (corpus / "train.txt").write_text("\n".join(train) + "\n", encoding="utf-8")
        (corpus / "dev.txt").write_text("\n".join(dev) + "\n", encoding="utf-8")
        log = scratch / "trainer.log"
        tokenizer_dir = scratch / "ours" / "tokenizer"
        matched_batch, per_line = 0, 0.0
        for index in range(runs):
            print(f"[bench] training run {index + 1}/{runs}", file=sys.stderr, flush=True)
            fast, precision = ours(corpus, scratch / "ours", log)
            if not matched_batch:  # the tokenizer exists once ours has run
                per_line = mean_tokens_per_line(tokenizer_dir, train)
                matched_batch = max(BATCH, round(BATCH * BLOCK / per_line))
            slow = plain(corpus, tokenizer_dir, scratch / "plain", log, threads)
            matched = plain(corpus, tokenizer_dir, scratch / "plain", log, threads, matched_batch)
            ours_figure.runs.append(fast)
            plain_figure.runs.append(slow)
            matched_figure.runs.append(matched)
            ratios.append(fast / slow)
            matched_ratios.append(fast / matched)
    name = "tokens/s: ours / plain fp32, same TrainingArguments"
    section.figures = [plain_figure, matched_figure, ours_figure]
    section.ratios = {
        name: statistics.median(ratios),
        "tokens/s: ours / plain fp32, same tokens a step": statistics.median(matched_ratios),
    }
    section.goals = {name: section.ratios[name] >= 1.4}
    words = sum(len(line.split()) for line in train) / len(train)
    section.notes += [
        "goal: ours >= 1.4x the plain Trainer's tokens/s (same model, data and arguments)",
        (
            f"ours ran in {precision}: bf16 autocast is used only where the CPU runs bf16 "
            "natively (AVX512-BF16/AMX); without it the gain is packing, no compute on padding "
            "and full-width batches"
        ),
        (
            f"data: {len(train)} lines (mean {words:.1f} words, {per_line:.1f} tokens) from "
            f"{origin}; same tokenizer, shape, seed and schedule in every arm; the token-matched "
            f"plain arm takes {matched_batch} lines a step"
        ),
        "paired ratios (same arguments): " + ", ".join(f"{value:.2f}" for value in ratios),
        "paired ratios (same tokens a step): "
        + ", ".join(f"{value:.2f}" for value in matched_ratios),
    ]
    return section
