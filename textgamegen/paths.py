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
PLAYER_SETTINGS_ENV = "TEXTGAMEGEN_PLAYER_SETTINGS"
"""Set by ``serve`` for its game processes: the web player's own settings file (their
sampling, panel, prefetch, feedback), laid over the host's; the host's file is never
written by a web player."""


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


WEB_PLAYER_ENV = "TEXTGAMEGEN_WEB_PLAYER"
"""Set by ``serve`` for its game processes: a tag for the web player (not their session id,
which opens their game), recorded with their feedback so the host can tell players apart."""


def web_player() -> str:
    """The web player's tag (``WEB_PLAYER_ENV``), "" in a game of one's own."""
    return os.environ.get(WEB_PLAYER_ENV, "")


def player_settings_file() -> Path | None:
    """A hosted player's own settings file (``PLAYER_SETTINGS_ENV``), None for the host."""
    value = os.environ.get(PLAYER_SETTINGS_ENV)
    return Path(value).expanduser() if value else None


def hosted() -> bool:
    """Whether this game is played by someone other than the host (``serve``'s games)."""
    return os.environ.get(HOSTED_ENV, "") not in ("", "0")


# An absolute folder in running text: "/" then names and slashes, not part of a URL or of
# a relative path (after a letter, a dot, ":" or "/").
_ABSOLUTE_FOLDER = re.compile(r"(?<![\w.:/~<>-])/(?:[^\s/'\"]+/)+")
# A server's address: a URL (the game's "openai:http://127.0.0.1:59303/v1#narrator"), or a
# host and port ("127.0.0.1:59303", "gpu-box:8000", "[::1]:8000"), where the host is an
# address or a name with a letter in it (so "12:30" stays a time).
_ADDRESS = re.compile(
    r"(?:openai:)?\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+"
    r"|(?<![\w.:/-])(?:\[[0-9a-f:]+\]|\d{1,3}(?:\.\d{1,3}){3}|[a-z][a-z0-9.-]*):\d{2,5}\b",
    re.IGNORECASE,
)
MODEL_SERVER = "<model server>"
"""What a hosted player sees in place of a server's address."""


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
    "<data>/feedback.db") and any other absolute folder is cut to "…/", and a server's
    address (the internal model server's "127.0.0.1:59303", a URL) is "<model server>",
    so a web player learns nothing of the host's file system or network."""
    if not hosted():
        return text
    text = _ADDRESS.sub(MODEL_SERVER, text)
    for folder, label in _host_folders():
        text = text.replace(folder, label)
    return _ABSOLUTE_FOLDER.sub("…/", text)
