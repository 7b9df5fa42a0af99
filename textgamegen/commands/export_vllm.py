"""``textgamegen export-vllm``: write a model as one folder that vLLM serves as it is.

Our adapters train the tags' embedding rows (PEFT ``trainable_token_indices``), which
vLLM refuses; the export merges the adapter into its base and writes safetensors, config
and the tokenizer with our tags. See ``textgamegen.models.vllm_export``.

Examples::

    textgamegen export-vllm narrator /models/narrator-vllm
    textgamegen export-vllm path/to/adapter /models/narrator-vllm --dtype bfloat16
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model",
        metavar="NAME",
        help="an installed model, a model or adapter folder, or gguf:PACKAGE",
    )
    parser.add_argument("out", metavar="OUT", type=Path, help="the folder to write")
    parser.add_argument(
        "--dtype",
        choices=["float32", "bfloat16", "float16"],
        default="float32",
        help="the saved weights' dtype (default: float32, as the game plays)",
    )
    parser.add_argument(
        "--served-model-name",
        default="narrator",
        metavar="NAME",
        help="the name in the printed vllm command (default: narrator)",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing OUT")
    parser.add_argument("--json", action="store_true", help="print export.json")


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from textgamegen.models.vllm_export import export_for_vllm
    from textgamegen.narration.generator import GeneratorError

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    try:
        exported = export_for_vllm(
            args.model,
            args.out,
            dtype=args.dtype,
            served_name=args.served_model_name,
            force=args.force,
            progress=say,
        )
    except GeneratorError as error:
        print(f"textgamegen export-vllm: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(asdict(exported), indent=2))
        return 0
    print(
        f"{exported.source} ({exported.kind}, {exported.architecture}) exported to "
        f"{args.out.resolve()}: {exported.dtype} safetensors, vocab {exported.vocab}, "
        f"context {exported.context}; reloaded logits within "
        f"{exported.max_logit_difference:.2g} of the game's."
    )
    print("On the GPU host (not tested here: no vLLM, no GPU on this machine):")
    print(f"  {exported.vllm_command}")
    print(f"  textgamegen serve --model 'openai:http://GPU-HOST:8000/v1#{args.served_model_name}'")
    return 0
