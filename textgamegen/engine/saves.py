"""Saved games: versioned JSON files written atomically.

A save is ``{"format": "textgamegen-save", "version": SAVE_VERSION, "world": ...,
"saved_at": ..., "game": Game.to_dict()}``. The version is checked on load: an older
version is migrated step by step through ``MIGRATIONS``, a newer or unknown one is
refused with a message. Writes go through ``engine.atomic.write_atomic`` (temp file,
fsync, rename), so a crash mid-save leaves the previous save whole.

Save names are sanitised to letters, digits, ``-`` and ``_``: no path can escape the saves
folder. ``load_game`` also takes a path to a ``.json`` file (the repo's ``saves/``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from textgamegen import paths
from textgamegen.engine.atomic import write_atomic
from textgamegen.engine.game import Game
from textgamegen.engine.state import StateError
from textgamegen.engine.world import World, WorldError, load_world
from textgamegen.engine.worlds import find_world

SAVE_VERSION = 2
"""1: the first format. 2: the game state has a "map" (room -> [x, y])."""
SAVE_FORMAT = "textgamegen-save"
AUTOSAVE_NAME = "autosave"
"""Every autosave's name starts with this; each game has its own (``Game.autosave_name``)."""
MAX_NAME_CHARS = 40
MAX_SAVE_BYTES = 5_000_000

# version -> function that turns a save of that version into the next version.
def _add_map(data: dict[str, Any]) -> dict[str, Any]:
    # Version 1 had no map; GameState.from_dict lays one out from the visited rooms.
    return {**data, "version": 2}


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _add_map}


class SaveError(ValueError):
    """A save cannot be written or read; the message names the file and the fault."""


@dataclass
class SaveInfo:
    name: str
    path: Path
    world: str
    turn: int
    saved_at: str


def save_name(raw: str) -> str:
    """A safe file stem from what the player typed ("My Game!" -> "my-game").

    Raises:
        SaveError: nothing usable is left (empty, only dots or slashes).
    """
    text = str(raw).strip().casefold()
    text = re.sub(r"[^a-z0-9_-]+", "-", text).strip("-_")[:MAX_NAME_CHARS].strip("-_")
    if not text:
        raise SaveError(f"'{str(raw)[:60]}' is not a usable save name (use letters and digits)")
    return text


def save_path(name: str, saves_dir: Path) -> Path:
    return Path(saves_dir) / f"{save_name(name)}.json"


def _world_file(world: World) -> str:
    """Where a world from outside the shipped folder was loaded from ("" for shipped ones,
    which are found by name, so saves carry no machine-specific paths)."""
    if world.path is None:
        return ""
    path = Path(world.path).resolve()
    if path.parent == paths.worlds_dir().resolve():
        return ""
    return str(path)


def save_game(game: Game, name: str, saves_dir: Path) -> Path:
    """Write the game atomically to ``saves_dir/NAME.json``.

    Returns:
        The file written.

    Raises:
        SaveError: the name is unusable or the file cannot be written.
    """
    path = save_path(name, saves_dir)
    data = {
        "format": SAVE_FORMAT,
        "version": SAVE_VERSION,
        "world": game.world.name,
        "world_title": game.world.title,
        "world_file": _world_file(game.world),
        "saved_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "game": game.to_dict(),
    }
    try:
        write_atomic(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    except OSError as error:
        raise SaveError(f"{path}: cannot write the save: {error.strerror or error}") from None
    return path


def _locate(name_or_path: str, saves_dir: Path) -> Path:
    text = str(name_or_path).strip()
    if text.endswith(".json") and ("/" in text or "\\" in text or Path(text).is_file()):
        return Path(text).expanduser()
    return save_path(text, saves_dir)


def read_save(path: Path) -> dict[str, Any]:
    """Read a save file, check its format and bring it to ``SAVE_VERSION``.

    Raises:
        SaveError: missing, unreadable, not JSON, not a save, or an unknown version.
    """
    try:
        if path.stat().st_size > MAX_SAVE_BYTES:
            raise SaveError(f"{path}: too large to be a save")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SaveError(f"{path}: no such save") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SaveError(f"{path}: cannot read the save: {error}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise SaveError(f"{path}: broken save (not valid JSON: {error})") from None
    if not isinstance(data, dict) or data.get("format") != SAVE_FORMAT:
        raise SaveError(f"{path}: not a TextGameGen save")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise SaveError(f"{path}: the save has no version number")
    if version > SAVE_VERSION:
        raise SaveError(
            f"{path}: save version {version} is newer than this game understands "
            f"({SAVE_VERSION}); update TextGameGen to load it"
        )
    while version < SAVE_VERSION:
        migrate = MIGRATIONS.get(version)
        if migrate is None:
            raise SaveError(
                f"{path}: save version {version} is too old to load "
                f"(this game reads version {SAVE_VERSION})"
            )
        data = migrate(data)
        version = data["version"]
    return data


def load_game(name_or_path: str, saves_dir: Path, world: World | None = None) -> Game:
    """Load a save by name (from ``saves_dir``) or by path.

    Args:
        name_or_path: a save name, a path to a ``.json`` save, or "autosave" for the
            newest autosave of any game.
        saves_dir: the saves folder; the loaded game saves there too.
        world: the world being played; a save for another world is refused. When None,
            the save's world is found by name (or by the file it was loaded from).

    Raises:
        SaveError: the file is missing, broken, of an unknown version, or does not fit
            its world. Nothing on disk is changed.
    """
    path = _locate(name_or_path, saves_dir)
    if path.stem == AUTOSAVE_NAME and not path.exists():
        # "autosave" means the newest game's autosave, now that each game has its own slot.
        latest = latest_autosave(saves_dir)
        if latest is not None:
            path = latest.path
    data = read_save(path)
    saved_world = data.get("world")
    if not isinstance(saved_world, str):
        raise SaveError(f"{path}: the save does not say which world it is for")
    if world is not None and saved_world != world.name:
        raise SaveError(f"{path}: this save is for world '{saved_world}', not '{world.name}'")
    if world is None:
        try:
            world = load_world(find_world(saved_world))
        except WorldError as error:
            world_file = data.get("world_file") or ""
            if not (isinstance(world_file, str) and world_file and Path(world_file).is_file()):
                raise SaveError(f"{path}: the save's world cannot be loaded: {error}") from None
            try:
                world = load_world(Path(world_file))
            except WorldError as inner:
                raise SaveError(f"{path}: the save's world cannot be loaded: {inner}") from None
    if world.name != saved_world:
        raise SaveError(f"{path}: this save is for world '{saved_world}', not '{world.name}'")
    try:
        game = Game.from_dict(data.get("game"), world, saves_dir=saves_dir)
    except StateError as error:
        raise SaveError(f"{path}: the save does not fit world '{world.name}': {error}") from None
    if is_autosave(path.stem):
        # Continuing a game autosaves into its own slot again; a named save played on
        # starts a slot of its own, so it never overwrites another game's autosave.
        game.autosave_name = path.stem
    return game


def is_autosave(name: str) -> bool:
    return name == AUTOSAVE_NAME or name.startswith(f"{AUTOSAVE_NAME}-")


def latest_autosave(saves_dir: Path) -> SaveInfo | None:
    """The newest autosave of any game (what "Continue" opens), or None."""
    found = [info for info in list_saves(saves_dir) if is_autosave(info.name)]
    if not found:
        return None

    def written(info: SaveInfo) -> tuple[str, int]:
        try:
            return info.saved_at, info.path.stat().st_mtime_ns
        except OSError:
            return info.saved_at, 0

    return max(found, key=written)


def list_saves(saves_dir: Path) -> list[SaveInfo]:
    """Every readable save in the folder, newest first; broken files are skipped."""
    found = []
    folder = Path(saves_dir)
    if not folder.is_dir():
        return []
    for path in folder.glob("*.json"):
        try:
            data = read_save(path)
            game = data.get("game") or {}
            turn = int((game.get("state") or {}).get("turn", 0))
            found.append(
                SaveInfo(
                    path.stem, path, str(data.get("world", "")), turn, str(data.get("saved_at", ""))
                )
            )
        except (SaveError, ValueError, TypeError, AttributeError):
            continue
    return sorted(found, key=lambda info: (info.saved_at, info.name), reverse=True)
