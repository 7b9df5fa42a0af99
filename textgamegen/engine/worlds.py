"""Finding worlds: the shipped ones in ``assets/worlds/`` or any ``.toml`` path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textgamegen import paths
from textgamegen.engine.world import WorldError, load_world

DEFAULT_WORLD = "lanternfall"


@dataclass
class WorldInfo:
    name: str
    title: str
    path: Path
    error: str = ""
    """Why the world does not load ("" when it does); broken worlds are still listed."""


def list_worlds(folder: Path | None = None) -> list[WorldInfo]:
    """Every world file in the worlds folder, sorted by name.

    Args:
        folder: where to look; the shipped worlds folder by default.

    Returns:
        One entry per ``*.toml``; a broken file has its title empty and ``error`` set.
    """
    folder = folder or paths.worlds_dir()
    found = []
    for path in sorted(folder.glob("*.toml")):
        try:
            found.append(WorldInfo(path.stem, load_world(path).title, path))
        except WorldError as error:
            found.append(WorldInfo(path.stem, "", path, str(error)))
    return found


def find_world(name_or_path: str) -> Path:
    """Resolve a world name ("lanternfall") or a path to a ``.toml`` file.

    Raises:
        WorldError: nothing by that name or path exists.
    """
    text = str(name_or_path).strip()
    candidate = Path(text).expanduser()
    if text.endswith(".toml") or "/" in text or "\\" in text:
        if candidate.is_file():
            return candidate
        raise WorldError(f"{text}: no such world file")
    shipped = paths.worlds_dir() / f"{text}.toml"
    if text and shipped.is_file():
        return shipped
    known = ", ".join(info.name for info in list_worlds()) or "none"
    raise WorldError(f"{text or '(empty)'}: no world by that name (installed: {known})")
