"""``textgamegen serve-model``: hold the narrator in one process and answer many games.

It loads a model as the game does (an installed name, a directory or a hub id:
``load_engine``, the one place a model is loaded) and serves it with the OpenAI
completions and chat APIs, batching concurrent requests; see
``textgamegen.hosting.model_server``. Games use it with
``--model openai:http://HOST:PORT/v1#MODEL``. A registered name is served at its
production version, and when that changes (``textgamegen models promote`` or
``rollback``) the new version is loaded and swapped in without a restart
(``textgamegen.hosting.reload``). On the CPU its weights are chosen as the game chooses
them (the ``dtype`` and ``quantize`` settings, or ``--quantize``: ``auto`` takes int8
weights where they measure faster at no quality cost), for the first load and every
reload alike; the startup log says which it took.

Examples::

    textgamegen serve-model                                  # the settings' model, port 8001
    textgamegen serve-model --model path/to/model --port 9000 --device cuda
    textgamegen serve-model --max-batch 1                    # one request at a time
    textgamegen serve-model --quantize off                   # the dtype's own weights
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from textgamegen.commands import add_device_argument, add_quantize_argument
from textgamegen.endpoint import is_model_url

if TYPE_CHECKING:
    from textgamegen.config import Settings
    from textgamegen.hosting.completion import CompletionEngine

DEFAULT_PORT = 8001
# The service's defaults, repeated here so that --help does not import aiohttp and torch
# (tests/unit checks that they agree).
DEFAULT_MAX_BATCH = 16
MAX_REQUEST_TOKENS = 16384
DEFAULT_MAX_CONNECTIONS = 512


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port (default: {DEFAULT_PORT}; 0 picks a free one)",
    )
    parser.add_argument(
        "--model",
        metavar="M",
        default=None,
        help="installed model name, model directory or hub id (default: from the settings)",
    )
    add_device_argument(parser)
    add_quantize_argument(parser)
    parser.add_argument(
        "--watch-interval",
        type=float,
        default=2.0,
        metavar="S",
        help="seconds between looks at a registered model's production version, reloaded "
        "when it changes (default: 2; 0: never reload)",
    )
    parser.add_argument(
        "--max-queue",
        type=int,
        default=256,
        metavar="N",
        help="prompts that may be in flight; more get HTTP 429 (default: 256)",
    )
    parser.add_argument(
        "--max-batch",
        type=int,
        default=DEFAULT_MAX_BATCH,
        metavar="N",
        help="choices decoded together; requests that arrive meanwhile join the batch "
        f"(default: {DEFAULT_MAX_BATCH}; 1 serves one request at a time, first come first "
        "served)",
    )
    parser.add_argument(
        "--max-request-tokens",
        type=int,
        default=MAX_REQUEST_TOKENS,
        metavar="N",
        help="the most tokens one request may cost, its prompts and n x max_tokens for each; "
        f"more gets HTTP 400 (default: {MAX_REQUEST_TOKENS})",
    )
    parser.add_argument(
        "--api-key-env",
        metavar="VAR",
        default="",
        help="require an API key, read from the environment variable VAR: every request "
        "but /health must send 'Authorization: Bearer KEY' (the key itself never goes on "
        "the command line, where other users of the machine can read it)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=DEFAULT_MAX_CONNECTIONS,
        metavar="N",
        help="open connections; past it the oldest idle one is closed (default: "
        f"{DEFAULT_MAX_CONNECTIONS}, lowered to fit the open-file limit)",
    )


def run(args: argparse.Namespace) -> int:
    from textgamegen.config import settings_or_defaults
    from textgamegen.narration.generator import GeneratorError

    settings, notice = settings_or_defaults()
    if notice:
        print(f"textgamegen: {notice}", file=sys.stderr)
    settings = replace(settings, quantize=args.quantize or settings.quantize)
    model = args.model or settings.model
    if model == "template" or is_model_url(model):
        print(
            f"textgamegen serve-model: --model {model!r}: serve a transformers model "
            "(an installed name, a directory or a hub id)",
            file=sys.stderr,
        )
        return 2
    for name, value in (
        ("--max-batch", args.max_batch),
        ("--max-queue", args.max_queue),
        ("--max-request-tokens", args.max_request_tokens),
        ("--max-connections", args.max_connections),
    ):
        if value < 1:
            print(f"textgamegen serve-model: {name} must be 1 or more", file=sys.stderr)
            return 2

    from textgamegen.narration.remote import api_key_from

    try:
        api_key = api_key_from(args.api_key_env)
    except GeneratorError as error:
        print(f"textgamegen serve-model: --api-key-env: {error}", file=sys.stderr)
        return 2

    def load() -> CompletionEngine:
        # The same settings for every reload: a promoted version is quantised as the first.
        return load_engine(model, args.device or settings.device, settings)

    try:
        engine = load()
    except (GeneratorError, ValueError) as error:
        print(f"textgamegen serve-model: {error}", file=sys.stderr)
        return 2
    from textgamegen.hosting.model_server import serve_forever

    # The server's own warnings (the connection cap reached) go to stderr, once per kind.
    logging.basicConfig(level=logging.WARNING, format="textgamegen %(message)s")
    mode = "one request at a time" if args.max_batch == 1 else f"batches of up to {args.max_batch}"

    def announce(port: int) -> None:
        # Said once listening, with the port bound: --port 0 picks a free one.
        where = f"http://{args.host}:{port}/v1"
        print(
            f"textgamegen serve-model: serving {engine.name!r} ({engine.device}, "
            f"{engine.weights_text()}, quantize {settings.quantize}, context {engine.context}) "
            f"on {where}, {mode}; games use --model "
            f"'openai:{where}#{engine.name}'",
            file=sys.stderr,
            flush=True,
        )

    watch = _registered(model) if args.watch_interval > 0 else None

    from textgamegen.hosting.model_server import ModelService

    def follow(service: ModelService) -> None:
        from textgamegen.hosting.reload import ProductionWatch

        if watch is not None:
            models_dir, name = watch
            ProductionWatch(service, models_dir, name, load, args.watch_interval).start()
            print(
                f"textgamegen serve-model: following {name}'s production version in "
                f"{models_dir}; a promote or rollback is served without a restart",
                file=sys.stderr,
                flush=True,
            )

    try:
        serve_forever(
            engine,
            args.host,
            args.port,
            max_queue=args.max_queue,
            max_batch=args.max_batch,
            max_request_tokens=args.max_request_tokens,
            max_connections=args.max_connections,
            api_key=api_key,
            on_service=follow,
            on_listening=announce,
        )
    except OSError as error:
        print(
            f"textgamegen serve-model: cannot listen on {args.host}:{args.port}: {error}",
            file=sys.stderr,
        )
        return 2
    return 0


def _registered(model: str) -> tuple[Path, str] | None:
    """(models folder, name) when ``model`` is a registered name served at its production
    version; None for a directory, a hub id or one pinned version (``NAME@N``)."""
    from textgamegen.models.registry import find_model

    if "@" in model:
        return None
    info = find_model(model)
    if info is None:
        return None
    return info.path.parent, info.name


def load_engine(model: str, device: str, settings: Settings) -> CompletionEngine:
    """The one place serve-model loads its model: as the game does (its dtype, quantize
    and threads settings), then its engine.

    Raises:
        GeneratorError: the model cannot be loaded.
        ValueError: a bad device or settings.
        CompletionError: the model is not a transformers model.
    """
    from textgamegen.hosting.completion import CompletionEngine
    from textgamegen.models.loader import load_generator

    generator = load_generator(
        model,
        device,
        settings.sampling,
        dtype=settings.dtype,
        quantize=settings.quantize,
        threads=settings.threads,
    )
    return CompletionEngine.from_generator(generator)
