"""``textgamegen play``: the game in the terminal, or a script run headless.

Without ``--script`` this starts the Textual UI (``textgamegen.ui.app.run_tui``). With
``--script FILE`` it plays the script with no UI, checks its expectations (see
``textgamegen.play.script``) and exits 0 when all hold, 1 when any fails, 2 when
the world, save or script cannot be read (a malformed expectation included, found before
the first command is played).

Examples::

    textgamegen play --world lanternfall --seed 7
    textgamegen play --script tests/functional/walkthrough.txt --model template
    textgamegen play --script my.txt --transcript out.jsonl --json --seed 3
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from textgamegen.commands import add_device_argument
from textgamegen.engine.worlds import DEFAULT_WORLD
from textgamegen.play.script import EXPECTATION_HELP
from textgamegen.safe_text import terminal_safe

if TYPE_CHECKING:
    from textgamegen.engine.game import Game
    from textgamegen.narration.generator import Generator
    from textgamegen.play.feedback import FeedbackSession


def _warn(message: str) -> None:
    """A line for stderr; names from files and scripts may carry escapes, so clean it."""
    print(terminal_safe(message), file=sys.stderr)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "Scripts (--script): one command per line, '#' comments.\n"
        + EXPECTATION_HELP
        + "\nExit code: 0 when every expectation holds, 1 when one fails, 2 on bad input, "
        "3 under --strict-model when the model did not write every narration."
    )
    parser.add_argument(
        "--world",
        default=None,
        help=f"world name or path to a .toml file (default: {DEFAULT_WORLD})",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed for the story, to tell it again (default: a fresh one for each new game; "
        "0 with --script, so a script repeats)",
    )
    parser.add_argument(
        "--load",
        metavar="SAVE",
        default=None,
        help="start from a save: a name in the saves folder or a .json path",
    )
    parser.add_argument(
        "--model",
        default=None,
        help="generator: template, an installed model, a directory, a hub id, or a model "
        "server as openai:http://HOST:PORT/v1#MODEL (completions) or "
        "openai-chat:http://HOST:PORT/v1#MODEL (chat: Ollama, LM Studio, llama.cpp, KoboldCpp) "
        "(default: from settings)",
    )
    parser.add_argument(
        "--api-key-env",
        dest="api_key_env",
        metavar="VAR",
        default=None,
        help="the environment variable holding the model server's API key, sent as "
        "Authorization: Bearer (default: api_key_env from settings); the key is never saved",
    )
    parser.add_argument(
        "--strict-model",
        dest="strict_model",
        action="store_true",
        help="with --script: exit 3 when the model did not write every narration (not "
        "loaded, a server down, a line the template wrote instead)",
    )
    add_device_argument(parser)
    parser.add_argument(
        "--saves-dir",
        dest="saves_dir",
        type=Path,
        default=None,
        help="saves folder (default: TEXTGAMEGEN_SAVES_DIR or the user data dir)",
    )
    parser.add_argument(
        "--script",
        type=Path,
        default=None,
        help="play this script headless instead of starting the UI",
    )
    parser.add_argument(
        "--transcript", type=Path, default=None, help="with --script: write the transcript here"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="with --script: the transcript is JSON lines, not plain text",
    )
    parser.add_argument(
        "--no-feedback",
        dest="no_feedback",
        action="store_true",
        help="record no feedback this time, whatever the settings say (a script's "
        "narrations are otherwise recorded marked as scripted, and left out of "
        "`feedback export` unless it is given --include-scripted)",
    )


def run(args: argparse.Namespace) -> int:
    if args.script is None:
        from textgamegen.ui.app import run_tui

        return run_tui(args)
    return run_headless(args)


def _generator(
    model: str | None, device: str | None, world_narrator: str = "", api_key_env: str | None = None
) -> Generator:
    """The generator for a script, built from the player's settings (sampling, threads,
    dtype, int8) with --model, --device and --api-key-env on top; the template one when it
    cannot load."""
    from dataclasses import replace

    from textgamegen.config import narrator_for, settings_or_defaults
    from textgamegen.narration.template import TemplateGenerator

    settings, notice = settings_or_defaults()
    if notice:
        _warn(f"textgamegen: {notice}")
    name = narrator_for(world_narrator, settings, model)
    if name == "template":
        return TemplateGenerator()
    try:
        from textgamegen.models.loader import load_from_settings

        generator = load_from_settings(
            replace(
                settings,
                device=device or settings.device,
                api_key_env=settings.api_key_env if api_key_env is None else api_key_env,
            ),
            name,
            progress=lambda text: print(f"textgamegen: {text}", file=sys.stderr, flush=True),
        )
        if generator.notice:
            print(f"textgamegen: {generator.notice}", file=sys.stderr)
        return generator
    except Exception as error:  # noqa: BLE001 - any load failure falls back to templates
        _warn(f"textgamegen: model {name!r} not loaded ({error}); using the template generator")
        return TemplateGenerator()


def _feedback_session(game: Game, record: bool) -> FeedbackSession | None:
    """A feedback session writing a script's narrations, marked scripted, to the player's
    database; None when ``--no-feedback`` or the settings (``record_feedback = false``)
    turn recording off."""
    from textgamegen.config import settings_or_defaults

    # A broken file was already reported by _generator; the default records.
    if not record or not settings_or_defaults()[0].record_feedback:
        return None
    from textgamegen.feedback.recorder import Recorder
    from textgamegen.play.feedback import FeedbackSession

    return FeedbackSession(Recorder(), world=game.world.name, scripted=True)


def run_headless(args: argparse.Namespace) -> int:
    from textgamegen import paths
    from textgamegen.engine.game import Game
    from textgamegen.engine.saves import SaveError
    from textgamegen.engine.world import WorldError, load_world
    from textgamegen.engine.worlds import find_world
    from textgamegen.play.script import ScriptError, read_script, run_script

    saves_dir = Path(args.saves_dir).expanduser() if args.saves_dir else paths.saves_dir()
    from textgamegen.engine.saves import clean_saves_folder

    clean_saves_folder(saves_dir)
    try:
        read_script(args.script)
        if args.load:
            world = load_world(find_world(args.world)) if args.world else None
            game = Game.load(args.load, saves_dir, world=world)
            game.saving.autosave = False
        else:
            world = load_world(find_world(args.world or DEFAULT_WORLD))
            # No autosave: a test run must never overwrite the player's autosave. A script
            # is pinned to a seed (0 unless given), so the same script tells the same story.
            seed = args.seed if args.seed is not None else 0
            game = Game.new(world, seed=seed, saves_dir=saves_dir, autosave=False)
    except (WorldError, SaveError, ScriptError) as error:
        _warn(f"textgamegen: {error}")
        return 2
    from textgamegen.engine.solvability import unwinnable_warning

    if warning := unwinnable_warning(game.world):
        _warn(f"textgamegen: {warning}")
    from textgamegen.config import narrator_for, settings_or_defaults

    wanted = narrator_for(game.world.narrator, settings_or_defaults()[0], args.model)
    generator = _generator(args.model, args.device, game.world.narrator, args.api_key_env)
    feedback = _feedback_session(game, record=not getattr(args, "no_feedback", False))
    report = run_script(
        args.script,
        game,
        generator,
        feedback,
        on_notice=lambda notice: _warn(f"textgamegen: {notice}"),
    )
    if feedback is not None and feedback.recorder is not None:
        feedback.recorder.close()
        for notice in feedback.recorder.take_notices():
            print(f"textgamegen: {notice}", file=sys.stderr)
    text = report.as_jsonl() if args.json else report.as_text()
    if args.transcript:
        from textgamegen.atomic import write_atomic

        try:
            write_atomic(Path(args.transcript), text)
        except OSError as error:
            _warn(f"textgamegen: cannot write {args.transcript}: {error}")
            return 2
    else:
        sys.stdout.write(terminal_safe(text))
    for failure in report.failures:
        _warn(f"{args.script}:{failure}")
    verdict = "won" if report.won else "not won"
    summary = (
        f"{args.script}: {report.checked} expectations, {len(report.failures)} failed; "
        f"turn {game.turn}, {verdict}"
    )
    _warn(summary)
    # The model was not used when it did not load, or when the template stood in for it.
    unloaded = wanted != "template" and generator.backend == "template"
    if report.fallbacks or unloaded:
        written = 0 if unloaded else report.narrations - report.fallbacks
        _warn(
            f"textgamegen: the model {wanted!r} wrote {written} of {report.narrations} "
            "narrations; the template narrator wrote the rest"
        )
    if not report.ok:
        return 1
    if getattr(args, "strict_model", False) and (report.fallbacks or unloaded):
        return 3
    return 0
