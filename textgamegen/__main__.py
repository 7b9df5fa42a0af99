"""Command line: ``textgamegen [play|worlds|generate|models|serve|serve-model|export-vllm|
train|cache|monitor|feedback] ...``.

``play`` is the default, so plain ``textgamegen`` starts the game. Each subcommand lives
in ``textgamegen/commands/<name>.py`` with ``add_arguments(parser)`` and ``run(args)``,
and is imported only when used, so ``--help`` and the TUI start fast.

Examples::

    textgamegen                                  # title screen, shipped world and model
    textgamegen play --script tests/functional/walkthrough.txt --transcript out.txt
    textgamegen worlds
    textgamegen generate --kind action --prompt "You push open the door" --json
    textgamegen models --json
    textgamegen train pipeline training/configs/textgamegen.toml
    textgamegen monitor --png monitor.png
    textgamegen feedback export --out feedback.jsonl
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from textgamegen import __version__

SUBCOMMANDS = {
    "play": "play the game in the terminal, or run a script headless (the default)",
    "worlds": "list the installed worlds",
    "generate": "write text with a generator and print the candidates, scores and timings",
    "models": "list the installed generators and their metrics",
    "serve": "serve the game in the browser, one game per tab, narrated by one model server",
    "serve-model": "hold the narrator in one process and answer games over HTTP (OpenAI API)",
    "export-vllm": "write a model as one merged folder that vLLM serves (tags included)",
    "train": "build a corpus, fine-tune, evaluate and register a model (see train --help)",
    "cache": "what the model cache holds; prune removes the old copies nothing reads",
    "monitor": "how each model narrates in play: latency, fallbacks, ratings, drift",
    "feedback": "export, count or clear the recorded player feedback",
}


def _command(name: str):
    return importlib.import_module(f"textgamegen.commands.{name.replace('-', '_')}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="textgamegen",
        description="A terminal text adventure narrated by a small local language model.",
        epilog="With no subcommand, 'play' runs.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="subcommand", metavar="COMMAND")
    for name, summary in SUBCOMMANDS.items():
        if name == "train":
            # train owns its whole argument list (training/cli.py); it is passed through.
            sub.add_parser(name, help=summary, add_help=False)
            continue
        child = sub.add_parser(name, help=summary, description=summary)
        _command(name).add_arguments(child)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "train":
        from training.cli import main as train_main

        return train_main(argv[1:], prog="textgamegen train")
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["play", *argv]
    args = build_parser().parse_args(argv)
    if args.subcommand is None:
        args = build_parser().parse_args(["play"])
    try:
        return int(_command(args.subcommand).run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
