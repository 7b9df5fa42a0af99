"""Stage 3, fine-tune: train a model on a built corpus with the HF Trainer (a LoRA adapter
on a pretrained base, every weight of one, or a GPT-2 from scratch).

Examples::

    # from scratch: a byte-level BPE tokenizer is trained on the train split first
    python -m training finetune --corpus runs/x/corpus --base scratch:small --out runs/x/finetune
    # continue a registered or local model (its tokenizer is kept)
    python -m training finetune --corpus runs/alice/corpus --base assets/models/textgamegen \\
        --out runs/alice/finetune --epochs 3
    # a smoke run, then continue it from its last checkpoint
    python -m training finetune --corpus C --base scratch:toy --out O --max-steps 20
    python -m training finetune --corpus C --base scratch:toy --out O --resume
    # data parallel on two CPU processes (gloo)
    torchrun --nproc_per_node 2 -m training finetune --corpus C --base scratch:toy --out O

Texts are packed into blocks (``group_texts``) so no compute goes to padding. The run
directory gets ``model/`` (the final HF model, safetensors only), ``checkpoints/``,
``curve.png`` (loss and perplexity), ``log.json`` (the Trainer's log history) and
``finetune.json`` (the config, corpus hash and final dev perplexity).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from textgamegen.atomic import write_atomic
from training.config import FinetuneConfig, as_dict
from training.lineage import machine
from training.modelsizes import parse_scratch, train_tokenizer


class FinetuneError(RuntimeError):
    """The fine-tune cannot run; the message says why and what to do."""


@dataclass
class FinetuneResult:
    model_dir: Path
    dev_perplexity: float
    steps: int
    seconds: float


def read_split(corpus_dir: Path, split: str, limit: int = 0) -> list[str]:
    path = corpus_dir / f"{split}.txt"
    if not path.is_file():
        raise FinetuneError(f"{path}: missing; build the corpus first (train corpus ...)")
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines[:limit] if limit else lines


def group_texts(token_lists: list[list[int]], block_size: int) -> list[list[int]]:
    """Concatenate tokenized lines and cut them into full blocks (the tail is dropped).

    When the corpus is shorter than one block, the single short block is kept so that
    tiny smoke corpora still train.
    """
    stream = [token for tokens in token_lists for token in tokens]
    if len(stream) < block_size:
        return [stream] if len(stream) > 1 else []
    usable = len(stream) // block_size * block_size
    return [stream[i : i + block_size] for i in range(0, usable, block_size)]


class PairDataset:
    """Conditioned pairs, one sequence each, with the loss on the target only.

    The prompt (story and facts) is context, not something to learn to write: its labels
    are -100 up to and including the last tag token, which opens the target. A sequence
    longer than ``max_length`` loses tokens from the left, never the target's end.
    """

    def __init__(self, sequences: list[list[int]], tag_ids: set[int], max_length: int):
        self.items: list[tuple[list[int], int]] = []
        for ids in sequences:
            ids = ids[-max_length:]
            starts = [i for i, token in enumerate(ids) if token in tag_ids]
            if not starts or starts[-1] >= len(ids) - 1:
                continue
            self.items.append((ids, starts[-1] + 1))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        import torch

        ids, start = self.items[index]
        labels = [-100] * start + ids[start:]
        return {
            "input_ids": torch.tensor(ids, dtype=torch.long),
            "labels": torch.tensor(labels, dtype=torch.long),
        }


def pad_collator(pad_id: int):
    """Right-pad a batch of PairDataset items (labels padded with -100)."""

    def collate(items: list[dict]) -> dict:
        import torch

        width = max(len(item["input_ids"]) for item in items)
        ids = torch.full((len(items), width), pad_id, dtype=torch.long)
        labels = torch.full((len(items), width), -100, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        for row, item in enumerate(items):
            n = len(item["input_ids"])
            ids[row, :n] = item["input_ids"]
            labels[row, :n] = item["labels"]
            mask[row, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    return collate


def is_conditioned(lines: list[str]) -> bool:
    """Whether a corpus holds conditioned pairs (several tagged segments per line)."""
    return any(line.count("<|endoftext|>") > 1 for line in lines[:200])


class BlockDataset:
    """Packed blocks as a map-style dataset for the Trainer (labels = inputs)."""

    def __init__(self, blocks: list[list[int]]):
        self.blocks = blocks

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, index: int) -> dict:
        import torch

        ids = torch.tensor(self.blocks[index], dtype=torch.long)
        return {"input_ids": ids, "labels": ids.clone()}


def resolve_precision(precision: str, cuda: bool) -> str:
    """bf16, fp16 or fp32 for this device. ``auto``: bf16 where the device supports it
    natively (CUDA with bf16; CPUs with AVX512-BF16 or AMX), fp16 on other CUDA devices,
    else fp32."""
    import torch

    if precision != "auto":
        if precision == "fp16" and not cuda:
            raise FinetuneError("--precision fp16 needs a CUDA device; use bf16 or fp32 on CPU")
        return precision
    if cuda:
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    from textgamegen.narration.device import native_bf16_kernels

    # CPU bf16 autocast pays off only with native bf16 instructions; on a plain AVX2 CPU it
    # measured 10-15x slower than fp32 (small model: 100+ s/step against 8 s/step).
    return "bf16" if native_bf16_kernels() else "fp32"


def load_base(base: str, train_lines: list[str], vocab_size: int, out_dir: Path, is_main):
    """The model and tokenizer to start from.

    Args:
        base: scratch:SIZE, or anything the game loads (``loader.load_weights``): an
            installed model, a model or adapter directory, gguf:NAME or a hub id.
        train_lines: the train split (a scratch tokenizer is trained on it).
        vocab_size: scratch tokenizer size.
        out_dir: the run directory (the scratch tokenizer is saved in it, so every DDP rank
            and a resumed run use the same one).
        is_main: a context manager factory; rank 0 runs first, the others wait.

    Returns:
        (model, tokenizer).
    """
    from transformers import AutoTokenizer, GPT2LMHeadModel

    from textgamegen.models.scratch import gpt2_config

    size = parse_scratch(base)
    if size is not None:
        tokenizer_dir = out_dir / "tokenizer"
        with is_main("train the tokenizer"):
            if (tokenizer_dir / "tokenizer.json").is_file():
                tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
            else:
                tokenizer = train_tokenizer(
                    train_lines, vocab_size, size.n_positions, tokenizer_dir
                )
        config = gpt2_config(size, tokenizer)
        return GPT2LMHeadModel(config), tokenizer
    from textgamegen.models.loader import load_weights
    from textgamegen.narration.generator import GeneratorError

    try:
        # Rank 0 first: a GGUF base is unpacked, or an adapter merged, once into the cache.
        with is_main("load the base"):
            # float32 even from fp16 shipped weights (fp16 training on CPU is unusable).
            tokenizer, model = load_weights(
                base, "float32", progress=lambda text: print(f"fine-tune: {text}", flush=True)
            )
    except GeneratorError as error:
        raise FinetuneError(f"--base {base}: {error}") from None
    model.config.pad_token_id = tokenizer.pad_token_id
    model.config.eos_token_id = tokenizer.eos_token_id
    return model, tokenizer


def _tokenize(tokenizer, lines: list[str]) -> list[list[int]]:
    return tokenizer(lines, add_special_tokens=False)["input_ids"]


def finetune(
    corpus_dir: Path,
    out_dir: Path,
    config: FinetuneConfig,
    resume: str | bool | None = None,
    device: str = "auto",
    corpus_hash: str = "",
) -> FinetuneResult:
    """Train and save the model.

    Args:
        corpus_dir: holds train.txt and dev.txt.
        out_dir: the run directory (model/, checkpoints/, curve.png, log.json).
        config: the fine-tune settings.
        resume: a checkpoint path, True for the last one in out_dir/checkpoints, or None.
        device: auto, cpu or cuda.
        corpus_hash: recorded in finetune.json.

    Returns:
        Where the model is, its dev perplexity, steps and wall time.

    Raises:
        FinetuneError: bad base, missing corpus, no checkpoint to resume from.
    """
    import time

    started = time.monotonic()
    # Check the corpus before the slow torch/transformers import, so a typo fails at once.
    train_lines = read_split(corpus_dir, "train", config.max_train_samples)
    dev_lines = read_split(corpus_dir, "dev")

    import torch
    from transformers import Trainer, TrainerCallback, TrainingArguments, set_seed

    from textgamegen.narration.device import resolve_device
    from textgamegen.narration.generator import GeneratorError
    from training.checkpoints import resume_checkpoint

    try:
        cuda = resolve_device(device) == "cuda"
    except GeneratorError as error:
        raise FinetuneError(f"--device {device}: {error}") from None
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if not cuda:
        # Two ranks on two cores must not fight over threads.
        torch.set_num_threads(config.threads or max(1, (os.cpu_count() or 1) // world))
    precision = resolve_precision(config.precision, cuda)
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoints = out_dir / "checkpoints"
    resume_from: str | None = None
    if resume:
        if resume is True:
            last = resume_checkpoint(checkpoints)  # the newest *complete* one, said aloud
            if last is None:
                raise FinetuneError(f"--resume: no checkpoint in {checkpoints}")
            resume_from = last
        else:
            if not Path(resume).is_dir():
                raise FinetuneError(f"--resume {resume}: no such checkpoint directory")
            resume_from = str(resume)

    accumulation = max(1, config.effective_batch // (config.batch_size * world))
    eval_strategy = "steps" if config.eval_steps else "epoch"
    args = TrainingArguments(
        output_dir=str(checkpoints),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=accumulation,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=config.warmup_steps,
        weight_decay=config.weight_decay,
        eval_strategy=eval_strategy,
        save_strategy=eval_strategy,
        eval_steps=config.eval_steps or None,
        save_steps=config.eval_steps or None,
        save_total_limit=config.save_total_limit,
        logging_steps=config.logging_steps,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not cuda,
        ddp_backend="gloo" if world > 1 and not cuda else None,
        ddp_find_unused_parameters=False if world > 1 else None,
        seed=config.seed,
        data_seed=config.seed,
        report_to=[],
        dataloader_num_workers=0,
        disable_tqdm=False,
    )
    # Seeded before anything random is built: a scratch model's first weights and the new
    # tag rows of a pretrained base's embeddings come from the global RNG, and the Trainer
    # seeds only when it is made, after them (two runs of one config gave dev perplexity
    # 129 and 153).
    set_seed(config.seed)
    model, tokenizer = load_base(
        config.base, train_lines, config.vocab_size, out_dir, args.main_process_first
    )
    context = context_length(model.config)
    block_size = min(config.block_size or context, context)
    collator = None
    train_blocks: PairDataset | BlockDataset
    dev_blocks: PairDataset | BlockDataset
    if is_conditioned(train_lines):
        # Pairs: one padded sequence each, loss on the target; similar lengths batched
        # together so little compute goes to padding.
        from training import SPECIAL_TAG_TOKENS

        tag_ids = set(tokenizer.convert_tokens_to_ids(list(SPECIAL_TAG_TOKENS)))
        train_blocks = PairDataset(_tokenize(tokenizer, train_lines), tag_ids, block_size)
        dev_blocks = PairDataset(_tokenize(tokenizer, dev_lines), tag_ids, block_size)
        collator = pad_collator(tokenizer.pad_token_id)
        args.group_by_length = True
    else:
        train_blocks = BlockDataset(group_texts(_tokenize(tokenizer, train_lines), block_size))
        dev_blocks = BlockDataset(group_texts(_tokenize(tokenizer, dev_lines), block_size))
    if not len(train_blocks) or not len(dev_blocks):
        raise FinetuneError(
            f"{corpus_dir}: too little text for one block of {block_size} tokens in train or dev"
        )
    if config.method == "lora":
        # Again: the adapter's first weights must not depend on how much randomness the
        # base's loading used.
        set_seed(config.seed)
        model = with_lora(model, tokenizer, config)
    if config.warmup_steps == 0:
        steps_per_epoch = max(1, len(train_blocks) // (config.batch_size * world * accumulation))
        total = config.max_steps if config.max_steps > 0 else int(steps_per_epoch * config.epochs)
        args.warmup_steps = max(1, total // 20)

    class Perplexity(TrainerCallback):
        """Print dev perplexity after each evaluation (the log keeps eval_loss)."""

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            if metrics and "eval_loss" in metrics and state.is_world_process_zero:
                print(
                    f"[epoch {state.epoch:.2f} step {state.global_step}] dev loss "
                    f"{metrics['eval_loss']:.4f} perplexity {math.exp(metrics['eval_loss']):.2f}",
                    flush=True,
                )

    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_blocks,
        eval_dataset=dev_blocks,
        processing_class=tokenizer,
        data_collator=collator,
        callbacks=[Perplexity()],
    )
    if trainer.is_world_process_zero():
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        print(
            f"fine-tune: base {config.base}, method {config.method}, "
            f"{sum(p.numel() for p in model.parameters()):,} parameters ({trainable:,} "
            f"trained), {len(train_blocks)} train "
            f"{'pairs' if collator else 'blocks'} of up to {block_size} tokens, "
            f"{len(dev_blocks)} dev blocks, batch {config.batch_size} x {accumulation} "
            f"accumulation x {world} process(es), {precision}",
            flush=True,
        )
    if resume_from:
        # The cosine schedule is built for the run's planned length; a checkpoint of a run
        # planned otherwise would continue on a schedule that no run ever had.
        steps = trainer.set_initial_training_values(args, trainer.get_train_dataloader())[-1]
        problem = length_problem(Path(resume_from), steps)
        if problem:
            raise FinetuneError(problem)
    trainer.train(resume_from_checkpoint=resume_from)
    last_eval = [h for h in trainer.state.log_history if "eval_loss" in h]
    if last_eval and last_eval[-1].get("step") == trainer.state.global_step:
        dev_loss = last_eval[-1]["eval_loss"]
    else:
        dev_loss = trainer.evaluate()["eval_loss"]
    dev_perplexity = math.exp(dev_loss)
    model_dir = out_dir / "model"
    if trainer.is_world_process_zero():
        if model_dir.exists():
            import shutil

            shutil.rmtree(model_dir)
        if config.method == "lora":
            # The adapter, with the special tokens' rows, but not the whole (resized)
            # embedding matrix, which PEFT would otherwise save: 250 MB instead of 20.
            model.save_pretrained(str(model_dir), save_embedding_layers=False)
            write_base_reference(model_dir, config.base)
        else:
            trainer.save_model(str(model_dir))
        tokenizer.save_pretrained(model_dir)
        for stray in model_dir.glob("*.bin"):
            stray.unlink()  # safetensors only: never ship a pickle
        history = trainer.state.log_history
        write_atomic(out_dir / "log.json", json.dumps(history, indent=1) + "\n")
        write_curve(history, out_dir / "curve.png")
        summary = {
            "config": as_dict(config),
            "corpus_sha256": corpus_hash,
            "dev_perplexity": dev_perplexity,
            "steps": trainer.state.global_step,
            "block_size": block_size,
            "world_size": world,
            "precision": precision,
            "seconds": round(time.monotonic() - started, 1),
            "parameters": sum(p.numel() for p in model.parameters()),
            "trained_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "method": config.method,
            "threads": torch.get_num_threads(),
            "machine": machine(),
        }
        write_atomic(out_dir / "finetune.json", json.dumps(summary, indent=2) + "\n")
        print(
            f"fine-tune: dev perplexity {dev_perplexity:.2f} after "
            f"{trainer.state.global_step} steps; model in {model_dir}",
            flush=True,
        )
    end_process_group()
    return FinetuneResult(
        model_dir=model_dir,
        dev_perplexity=dev_perplexity,
        steps=trainer.state.global_step,
        seconds=time.monotonic() - started,
    )


def end_process_group() -> None:
    """Under torchrun, wait for rank 0's writes, then tear the gloo group down.

    A rank that simply returned while rank 0 was still saving left gloo's threads
    running at interpreter exit; C++ aborted it ("terminate called without an active
    exception") and torchrun failed the whole run after the model was written.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def length_problem(checkpoint: Path, steps: int) -> str:
    """Why a run of ``steps`` optimizer steps cannot continue from ``checkpoint`` ("" when
    it can): the checkpoint's run was planned for another number of steps (epochs or
    max_steps changed), so its learning-rate schedule does not fit this run."""
    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
        planned = int(state.get("max_steps") or 0)
        done = int(state.get("global_step") or 0)
    except (OSError, ValueError, TypeError, AttributeError):
        return ""  # resume_checkpoint has checked the file; an old one has no plan to compare
    if not planned or planned == steps:
        return ""
    return (
        f"{checkpoint}: that run was planned for {planned} steps (it stopped at step "
        f"{done}), and its learning-rate schedule warms up and decays to 0 over exactly "
        f"those steps; this config asks for {steps} (epochs or max_steps changed). A "
        f"schedule cannot be stretched mid-run, so the checkpoint is not continued: start "
        f"a fresh run directory (finetune --out NEW, or pipeline --run-dir NEW), or set "
        f"epochs and max_steps back to continue the interrupted run."
    )


def context_length(config) -> int:
    """The model's context window (GPT-2: n_positions; Llama: max_position_embeddings),
    capped at 1024: conditioned pairs are short and longer blocks only cost memory."""
    from textgamegen.narration.decode import context_window

    return min(context_window(config), 1024)


def with_lora(model, tokenizer, config: FinetuneConfig):
    """Wrap the model in a PEFT LoRA adapter on every linear projection, and train the
    special tokens' embedding rows beside it (they are new, or new in meaning)."""
    from peft import LoraConfig, get_peft_model

    from training import EOS, SPECIAL_TAG_TOKENS

    ids = tokenizer.convert_tokens_to_ids([EOS, *SPECIAL_TAG_TOKENS])
    embeddings = model.get_input_embeddings()
    embed_name = next(name for name, module in model.named_modules() if module is embeddings)
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
        trainable_token_indices={embed_name.rsplit(".", 1)[-1]: sorted(set(ids))},
    )
    return get_peft_model(model, lora)


def write_base_reference(model_dir: Path, base: str) -> None:
    """``base.json`` beside an adapter: which base it needs, by name and sha256, so the
    game can refuse an adapter put on the wrong base."""
    from textgamegen.models.adapters import base_reference

    reference = base_reference(base)
    write_atomic(model_dir / "base.json", json.dumps(reference, indent=2) + "\n")


def write_curve(history: list[dict], path: Path) -> None:
    """Plot training loss and dev loss/perplexity against steps into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(h["step"], h["loss"]) for h in history if "loss" in h]
    dev = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    if train:
        left.plot(*zip(*train, strict=False), label="train loss")
    if dev:
        left.plot(*zip(*dev, strict=False), marker="o", label="dev loss")
        right.plot(
            [s for s, _ in dev],
            [math.exp(v) for _, v in dev],
            marker="o",
            color="tab:red",
            label="dev perplexity",
        )
    left.set_xlabel("step")
    left.set_ylabel("loss")
    left.legend()
    right.set_xlabel("step")
    right.set_ylabel("perplexity")
    right.set_yscale("log")
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
