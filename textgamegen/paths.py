"""Where TextGameGen finds its assets and keeps the player's files.

Assets (worlds, prompts, shipped models) live in the repository's top-level ``assets/``
folder; a wheel carries the same folder as ``textgamegen/assets``. Player data (saves,
user models, settings) lives in the platformdirs folders, each overridable by an
environment variable so tests and CI never touch a real home directory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from platformdirs import PlatformDirs

APP_NAME = "textgamegen"
_DIRS = PlatformDirs(APP_NAME, appauthor=False)
HOSTED_ENV = "TEXTGAMEGEN_HOSTED"
"""Set to 1 by ``serve`` for its game processes: their player is not the host, so what the
game shows names files, never the host's folders (``for_player``)."""


def assets_dir() -> Path:
    """The shipped assets: inside the installed package first, then the source checkout."""
    packaged = Path(__file__).resolve().parent / "assets"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "assets"


def worlds_dir() -> Path:
    return assets_dir() / "worlds"


def shipped_models_dir() -> Path:
    return assets_dir() / "models"


def prompts_file() -> Path:
    return assets_dir() / "prompts.toml"


def _env_dir(variable: str, default: Path) -> Path:
    value = os.environ.get(variable)
    return Path(value).expanduser() if value else default


def user_data_dir() -> Path:
    return _env_dir("TEXTGAMEGEN_DATA_DIR", Path(_DIRS.user_data_dir))


def saves_dir() -> Path:
    """Player saves; ``--saves-dir`` overrides this at the command line."""
    return _env_dir("TEXTGAMEGEN_SAVES_DIR", user_data_dir() / "saves")


def user_models_dir() -> Path:
    """Models registered by ``textgamegen train``; listed beside the shipped ones."""
    return _env_dir("TEXTGAMEGEN_MODELS_DIR", user_data_dir() / "models")


def config_file() -> Path:
    return _env_dir("TEXTGAMEGEN_CONFIG", Path(_DIRS.user_config_dir) / "config.toml")


def hosted() -> bool:
    """Whether this game is played by someone other than the host (``serve``'s games)."""
    return os.environ.get(HOSTED_ENV, "") not in ("", "0")


# An absolute folder in running text: "/" then names and slashes, not part of a URL or of
# a relative path (after a letter, a dot, ":" or "/").
_ABSOLUTE_FOLDER = re.compile(r"(?<![\w.:/~<>-])/(?:[^\s/'\"]+/)+")


def _host_folders() -> list[tuple[str, str]]:
    named = [
        (saves_dir(), "<saves>"),
        (user_models_dir(), "<models>"),
        (user_data_dir(), "<data>"),
        (config_file().parent, "<config>"),
        (assets_dir(), "<assets>"),
        (Path.home(), "~"),
    ]
    found: dict[str, str] = {}
    for folder, label in named:
        for form in (folder, folder.expanduser().resolve()):
            text = str(form)
            if len(text) > 1 and text not in found:
                found[text] = label
    return sorted(found.items(), key=lambda pair: len(pair[0]), reverse=True)


def for_player(text: str) -> str:
    """Text as the player may see it: unchanged in a game of one's own; in a hosted game
    (``hosted``) the host's folders are named for what they are ("<saves>/quick.json",
    "<data>/feedback.db") and any other absolute folder is cut to "…/", so a web player
    learns nothing of the host's file system."""
    if not hosted():
        return text
    for folder, label in _host_folders():
        text = text.replace(folder, label)
    return _ABSOLUTE_FOLDER.sub("…/", text)
