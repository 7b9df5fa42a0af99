"""``textgamegen generate``: write one piece of text and print every candidate, scored and timed.

The model operation test: it runs the same generator the game uses, so a model directory
can be checked from the shell. Cheap to import; the model loads only in ``run``.

Examples::

    textgamegen generate --kind action --prompt "You push open the door" --json
    textgamegen generate --kind item --prompt "brass lantern" --model path/to/model -n 3
    textgamegen generate --kind dialogue --speaker miller --prompt "the key" --seed 7
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any

from textgamegen.commands import add_device_argument, add_quantize_argument
from textgamegen.engine.content import ContentKind, ContentRequest
from textgamegen.safe_text import strip_unsafe

if TYPE_CHECKING:
    from textgamegen.narration.generator import Generator, Narration


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kind",
        choices=[kind.value for kind in ContentKind],
        default="action",
        help="what to write (default: action)",
    )
    parser.add_argument(
        "--prompt",
        default="",
        metavar="TEXT",
        help="the player's command (action), the subject (item) or the topic (dialogue, quest)",
    )
    parser.add_argument(
        "--model",
        metavar="M",
        help="installed model name, model directory, hub id, 'template', or a model server "
        "as openai:URL#MODEL or openai-chat:URL#MODEL (default: from the settings)",
    )
    parser.add_argument(
        "--api-key-env",
        dest="api_key_env",
        metavar="VAR",
        default=None,
        help="the environment variable holding the model server's API key "
        "(default: api_key_env from the settings)",
    )
    parser.add_argument(
        "-n",
        "--num-candidates",
        type=int,
        metavar="N",
        help="candidates to sample, from a model server too (default: from the settings, 5; "
        "a server's sampling.server_candidates, 1)",
    )
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="sampling seed")
    add_device_argument(parser)
    parser.add_argument("--max-new-tokens", type=int, metavar="T", help="narration length")
    parser.add_argument("--room", default="", help="the room the text happens in")
    parser.add_argument("--speaker", default="", help="who speaks (dialogue, quest)")
    parser.add_argument(
        "--entity",
        action="append",
        default=[],
        metavar="NAME",
        help="a name the text should mention (repeatable)",
    )
    parser.add_argument(
        "--story",
        action="append",
        default=[],
        metavar="LINE",
        help="a line of recent story, oldest first (repeatable)",
    )
    add_quantize_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def build_request(args: argparse.Namespace) -> ContentRequest:
    """The ContentRequest the arguments describe."""
    kind = ContentKind(args.kind)
    text = args.prompt.strip()
    fields: dict[str, Any] = {
        "kind": kind,
        "room": args.room,
        "entities": tuple(args.entity),
        "story": tuple(args.story),
        "seed": args.seed,
        "speaker": args.speaker,
    }
    if kind is ContentKind.ACTION:
        fields["command"] = text
    elif kind in (ContentKind.ITEM, ContentKind.ROOM):
        fields["subject"] = text
    else:
        # The topic stands with or without --speaker (it used to vanish without one).
        fields["topic"] = fields["subject"] = text
    return ContentRequest(**fields)


def _print_text(narration: Narration, generator: Generator) -> None:
    timings = narration.timings
    # A streamed line is the one that stays (one candidate); several are ranked only
    # when nothing was shown yet (--json).
    label = (
        "shown (the streamed line, kept)"
        if len(narration.candidates) <= 1
        else "shown (best candidate, after reranking)"
    )
    print(f"\n{label}: {narration.text}")
    if narration.fallback:
        print("(template fallback: the model gave nothing usable)")
    if narration.notice:
        print(f"notice: {narration.notice}")
    print("candidates (the shown one is marked *):")
    for number, candidate in enumerate(narration.candidates, 1):
        parts = "  ".join(f"{name} {value:.2f}" for name, value in candidate.scores.items())
        mark = "*" if candidate.text.strip() == narration.text.strip() else " "
        print(
            f"{mark}{number:>2}. score {candidate.score:.2f}  {parts}  "
            f"logprob/token {candidate.mean_logprob:.2f}  tokens {candidate.tokens}"
        )
        print(f"    {candidate.text or '(empty)'}")
    print(
        f"timings: first token {timings.first_token_ms:.1f} ms, first candidate "
        f"{timings.first_candidate_ms:.1f} ms, total {timings.total_ms:.1f} ms, "
        f"{timings.tokens_per_s:.0f} tokens/s, prompt {timings.prompt_tokens} tokens"
    )


def _json(narration: Narration, generator: Generator) -> dict[str, Any]:
    return {
        "model": narration.model,
        "backend": narration.backend,
        "device": narration.device,
        "dtype": generator.dtype,
        "quantized": generator.quantized,
        "load_ms": generator.load_ms,
        "request": narration.request.to_dict(),
        "prompt": narration.prompt,
        "text": narration.text,
        "fallback": narration.fallback,
        "cancelled": narration.cancelled,
        "notice": narration.notice,
        "timings": asdict(narration.timings),
        "candidates": [asdict(candidate) for candidate in narration.candidates],
    }


def run(args: argparse.Namespace) -> int:
    from textgamegen.config import SettingsError, settings_or_defaults
    from textgamegen.models.loader import load_from_settings
    from textgamegen.narration.generator import GeneratorError

    settings, notice = settings_or_defaults()
    if notice:
        print(f"warning: {notice}", file=sys.stderr)
    sampling = settings.sampling
    try:
        if args.num_candidates is not None:
            # Asked for by number: a model server is asked for as many.
            sampling = replace(
                sampling, num_candidates=args.num_candidates, server_candidates=args.num_candidates
            )
        if args.max_new_tokens is not None:
            sampling = replace(sampling, max_new_tokens=args.max_new_tokens)
    except SettingsError as error:
        print(f"error: {str(error).replace('sampling.num_candidates', '-n')}", file=sys.stderr)
        return 2
    settings = replace(
        settings,
        device=args.device or settings.device,
        sampling=sampling,
        quantize=args.quantize or settings.quantize,
        api_key_env=args.api_key_env or settings.api_key_env,
    )
    try:
        generator = load_from_settings(
            settings, args.model, lambda text: print(text, file=sys.stderr, flush=True)
        )
        if generator.notice:
            print(f"notice: {generator.notice}", file=sys.stderr)
    except GeneratorError as error:
        print(f"error: {strip_unsafe(str(error))}", file=sys.stderr)
        return 1
    request = build_request(args)
    if args.json:
        narration = generator.generate(request)
        print(json.dumps(_json(narration, generator), indent=2, ensure_ascii=False))
        return 0
    print(
        f"model: {generator.name} ({generator.backend}, {generator.device}, "
        f"{generator.dtype or 'n/a'}), loaded in {generator.load_ms:.0f} ms"
    )

    def show(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    # The stream is the first candidate as it is written; the best one may be another.
    print("streamed (first candidate, as it is written):")
    sys.stdout.write("> ")
    narration = generator.generate(request, on_text=show)
    print()
    if narration.prompt:
        print(f"prompt: {narration.prompt}")
    _print_text(narration, generator)
    return 0
