"""``textgamegen serve``: play in the browser; every tab is its own game with its own saves.

The game processes do not load the model. With an installed model, a directory or a hub
id, ``serve`` first starts one ``textgamegen serve-model`` on a free local port and points
every game at it (``--model openai:http://127.0.0.1:PORT/v1``), and keeps it running: it
is restarted with back-off when it dies, and ``/health`` says how it is
(``hosting.model_keeper``); with
``--model openai:http://HOST:PORT/v1#MODEL`` the games use that server (another machine,
or vLLM); ``--model template`` needs no model at all. See ``textgamegen.hosting.web``.

Examples::

    textgamegen serve                                  # http://127.0.0.1:8000, settings' model
    textgamegen serve --model template --max-sessions 4
    textgamegen serve --host 0.0.0.0 --public-url https://games.example.org \\
        --model openai:http://gpu-box:8000/v1#narrator
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from pathlib import Path

from textgamegen.commands import add_device_argument
from textgamegen.endpoint import EndpointError, is_model_url, parse_model_url

# The model server's start, for the bench and tests too; kept running by ``ModelKeeper``.
from textgamegen.hosting.model_keeper import (
    ModelKeeper,
    free_port,
    start_model_server,
    wait_for_model_server,
)

__all__ = ["free_port", "run", "start_model_server", "wait_for_model_server"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only)",
    )
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    parser.add_argument(
        "--model",
        metavar="M",
        default=None,
        help="installed model, directory or hub id (a model server is started "
        "for it), openai:http://HOST:PORT/v1#MODEL (an existing one), or "
        "template (default: from the settings)",
    )
    add_device_argument(parser, "For the model server started here.")
    parser.add_argument(
        "--max-sessions",
        type=int,
        default=16,
        metavar="N",
        help="game processes (one per open tab) that may run at once; more tabs get a "
        "'server is full' page (default: 16)",
    )
    parser.add_argument(
        "--public-url",
        default=None,
        metavar="URL",
        help="the URL browsers use when this runs behind a proxy (default: http://HOST:PORT)",
    )
    parser.add_argument(
        "--saves-root",
        type=Path,
        default=None,
        metavar="DIR",
        help="each tab's saves go in DIR/<session> (default: TEXTGAMEGEN_WEB_SAVES "
        "or <user data>/web-saves)",
    )
    parser.add_argument("--world", default=None, help="world name or .toml path for new games")


def run(args: argparse.Namespace) -> int:
    from textgamegen.config import settings_or_defaults

    if args.max_sessions < 1:
        print("textgamegen serve: --max-sessions must be 1 or more", file=sys.stderr)
        return 2
    settings, notice = settings_or_defaults()
    if notice:
        print(f"textgamegen serve: {notice}", file=sys.stderr)
    model = args.model or settings.model
    # SIGTERM while the model loads must still stop the model server (see ``finally``).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return _serve(args, model)
    finally:
        while _KEEPERS:
            _KEEPERS.pop().stop()


_KEEPERS: list[ModelKeeper] = []


def game_command(game_model: str, world: str | None) -> list[str]:
    """The command that starts one browser tab's game. No ``--seed``: each new game draws
    its own, so friends on one host read different stories."""
    game = [sys.executable, "-m", "textgamegen", "play", "--model", game_model]
    if world:
        game += ["--world", world]
    return game


def _serve(args: argparse.Namespace, model: str) -> int:
    keeper: ModelKeeper | None = None
    if model == "template" or is_model_url(model):
        game_model = model
        if is_model_url(model):
            try:
                parse_model_url(model)
            except EndpointError as error:
                print(f"textgamegen serve: {error}", file=sys.stderr)
                return 2
    else:
        print(f"textgamegen serve: starting the model server for {model!r} ...", file=sys.stderr)
        device = args.device
        keeper = ModelKeeper(lambda port: start_model_server(model, device, port=port))
        _KEEPERS.append(keeper)
        problem = keeper.start()
        if problem:
            print(f"textgamegen serve: {problem}; see its messages above", file=sys.stderr)
            return 2
        game_model = f"openai:{keeper.url}/v1"
    from textgamegen.hosting.web import GameWebServer, default_saves_root

    server = GameWebServer(
        shlex.join(game_command(game_model, args.world)),
        host=args.host,
        port=args.port,
        max_sessions=args.max_sessions,
        saves_root=args.saves_root or default_saves_root(),
        public_url=args.public_url,
        model_health=keeper.health if keeper is not None else None,
    )
    print(f"textgamegen serve: games narrated by {game_model}", file=sys.stderr, flush=True)
    try:
        server.serve()
    except OSError as error:
        print(
            f"textgamegen serve: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr
        )
        return 2
    return 0
