"""Where TextGameGen finds its assets and keeps the player's files.

Assets (worlds, prompts, shipped models) live in the repository's top-level ``assets/``
folder; a wheel carries the same folder as ``textgamegen/assets``. Player data (saves,
user models, settings) lives in the platformdirs folders, each overridable by an
environment variable so tests and CI never touch a real home directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import PlatformDirs

APP_NAME = "textgamegen"
_DIRS = PlatformDirs(APP_NAME, appauthor=False)


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
