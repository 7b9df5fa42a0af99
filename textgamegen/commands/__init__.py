"""One module per CLI subcommand, each with ``add_arguments(parser)`` and ``run(args) -> int``."""

from __future__ import annotations

import argparse


def add_device_argument(parser: argparse.ArgumentParser, where: str = "") -> None:
    """``--device``: the choices and help of the ``device`` setting (``config.py``), so the
    flags, the settings screen and the settings check agree.

    Args:
        parser: the subcommand's parser.
        where: what the device is for, when that needs saying ("for the model server ...").
    """
    from textgamegen.config import DEVICES, Settings, field_help

    help_text = " ".join(filter(None, [where, field_help(Settings)["device"]]))
    parser.add_argument(
        "--device", choices=DEVICES, default=None, help=f"{help_text} Default: from the settings."
    )


def add_quantize_argument(parser: argparse.ArgumentParser) -> None:
    """``--quantize``: the choices and help of the ``quantize`` setting (``config.py``); left
    out, the command takes the settings' value. A bare ``--quantize`` is int8."""
    from textgamegen.config import QUANTIZE, Settings, field_help

    parser.add_argument(
        "--quantize",
        nargs="?",
        const="int8",
        choices=QUANTIZE,
        # argparse formats help with %: the setting's "1%" must be written "1%%".
        help=field_help(Settings)["quantize"].replace("%", "%%")
        + " A bare --quantize is int8. Default: from the settings.",
    )
