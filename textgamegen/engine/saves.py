"""Saved games: versioned JSON files written atomically.

A save is ``{"format": "textgamegen-save", "version": SAVE_VERSION, "world": ...,
"saved_at": ..., "game": Game.to_dict()}``. The version is checked on load: an older
version is migrated step by step through ``MIGRATIONS``, a newer or unknown one is
refused with a message. Writes go through ``textgamegen.atomic.write_atomic`` (temp file,
fsync, rename), so a crash mid-save leaves the previous save whole.

``SavePolicy`` is the one place that decides when a game saves itself: every few turns,
on "quit", and when the player leaves a game with turns played since it last saved itself
(the UI starting another game, or closing). The engine and the UI both ask it.

Save names are sanitised to letters, digits, ``-`` and ``_``: no path can escape the saves
folder. ``open_save`` (and so ``Game.load``) also takes a path to a ``.json`` file (the
repo's ``saves/``), but only when the caller allows it: the command line may, the in-game
``load`` may not.

A save is untrusted input: before anything reads it, ``check_save`` holds it to a schema
(every field's type, how deep it nests, how long its texts and lists are), so a hostile
file gives one clear ``SaveError`` naming the file, never a traceback.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textgamegen import paths
from textgamegen.atomic import clean_stale_temps, write_atomic
from textgamegen.engine.maps import MAX_COORD
from textgamegen.engine.state import StateError
from textgamegen.engine.world import World, WorldError, load_world
from textgamegen.engine.worlds import find_world

if TYPE_CHECKING:
    from textgamegen.engine.game import Game

SAVE_VERSION = 2
"""1: the first format. 2: the game state has a "map" (room -> [x, y])."""
SAVE_FORMAT = "textgamegen-save"
AUTOSAVE_NAME = "autosave"
"""Every autosave's name starts with this; each game has its own
(``SavePolicy.autosave_name``)."""
MAX_NAME_CHARS = 40
MAX_SAVE_BYTES = 5_000_000
# A real save nests 5 levels (save > game > state > locations > value); allow some room.
MAX_SAVE_DEPTH = 12
MAX_NUMBER_DIGITS = 20
MAX_TEXT_CHARS = 100_000
MAX_LIST_ITEMS = 100_000
MAX_KEY_CHARS = 1_000
"""Names used as keys (items, rooms, quests, cache slots) are a world's keys: short."""


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
    title: str = ""
    """The world's title as the save recorded it ("" in older saves)."""


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
        # Named as "save NAME" names it: the folder is the host's business (a web player
        # must not see its path, and an OSError's text carries it).
        shown = save_label(path, by_name=True)
        raise SaveError(f"{shown}: cannot write the save: {error.strerror or error}") from None
    return path


def _is_path(text: str) -> bool:
    return text.endswith(".json") and ("/" in text or "\\" in text or Path(text).is_file())


def _locate(name_or_path: str, saves_dir: Path) -> Path:
    text = str(name_or_path).strip()
    if _is_path(text):
        return Path(text).expanduser()
    return save_path(text, saves_dir)


def read_save(path: Path, label: str = "") -> dict[str, Any]:
    """Read a save file, check its format and bring it to ``SAVE_VERSION``.

    Args:
        path: the file.
        label: how the errors name it (``save_label``); its path when empty.

    Raises:
        SaveError: missing, unreadable, not JSON, not a save, or an unknown version.
    """
    shown = label or str(path)
    text = _read_text(path, shown)
    data = _parse(text, shown)
    if not isinstance(data, dict) or data.get("format") != SAVE_FORMAT:
        raise SaveError(f"{shown}: not a TextGameGen save")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise SaveError(f"{shown}: the save has no version number")
    if version > SAVE_VERSION:
        raise SaveError(
            f"{shown}: save version {version} is newer than this game understands "
            f"({SAVE_VERSION}); update TextGameGen to load it"
        )
    while version < SAVE_VERSION:
        migrate = MIGRATIONS.get(version)
        if migrate is None:
            raise SaveError(
                f"{shown}: save version {version} is too old to load "
                f"(this game reads version {SAVE_VERSION})"
            )
        data = migrate(data)
        version = data["version"]
    check_save(data, shown)
    return data


def _read_text(path: Path, shown: str) -> str:
    """The save's text, read only from a regular file and never past ``MAX_SAVE_BYTES``.

    A FIFO named like a save would block the reader (and the title screen with it), and a
    link to a device (``/dev/zero``) would be read until memory runs out, its ``stat``
    size being 0: both are refused before a byte is read. The file is opened without
    blocking and checked again once open (it may have been swapped in between), and the
    read stops one byte past the limit.

    Raises:
        SaveError: missing, not a regular file, too large, unreadable, or not UTF-8;
            naming the save as ``shown`` and never the folder it lies in.
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise SaveError(f"{shown}: not a regular file, so not a save")
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        descriptor = os.open(path, flags)
    except FileNotFoundError:
        raise SaveError(f"{shown}: no such save") from None
    except OSError as error:
        raise SaveError(f"{shown}: cannot read the save: {error.strerror or error}") from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise SaveError(f"{shown}: not a regular file, so not a save")
        if info.st_size > MAX_SAVE_BYTES:
            raise SaveError(f"{shown}: too large to be a save")
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(descriptor, min(1 << 20, MAX_SAVE_BYTES + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_SAVE_BYTES:
                raise SaveError(f"{shown}: too large to be a save")
    except OSError as error:
        raise SaveError(f"{shown}: cannot read the save: {error.strerror or error}") from None
    finally:
        os.close(descriptor)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise SaveError(f"{shown}: cannot read the save: it is not UTF-8 text") from None


def _nesting(text: str) -> int:
    """How deep the JSON's arrays and objects nest, found without parsing (a parser
    would recurse once per level and could overflow the stack first)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_SAVE_DEPTH:
                    return deepest
        elif char in "]}":
            depth -= 1
    return deepest


def _whole_number(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise ValueError(f"a number has {len(digits)} digits (at most {MAX_NUMBER_DIGITS})")
    return int(digits)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a save can hold")


def _parse(text: str, path: Path | str) -> Any:
    if _nesting(text) > MAX_SAVE_DEPTH:
        raise SaveError(f"{path}: broken save (nested more than {MAX_SAVE_DEPTH} levels deep)")
    try:
        return json.loads(text, parse_int=_whole_number, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise SaveError(f"{path}: broken save (not valid JSON: {error})") from None
    except (ValueError, RecursionError) as error:
        raise SaveError(f"{path}: broken save ({error})") from None


class _Fields:
    """Checks one object of a save, naming the file and the field's path in every error."""

    def __init__(self, path: Path | str, where: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise SaveError(f"{path}: {where} must be an object, not {_kind(data)}")
        self.path, self.where, self.data = path, where, data

    def fail(self, key: str, problem: str) -> SaveError:
        return SaveError(f"{self.path}: {self.where}.{key} {problem}")

    def text(self, key: str, required: bool = False) -> None:
        if key not in self.data:
            if required:
                raise self.fail(key, "is missing")
            return
        value = self.data[key]
        if not isinstance(value, str):
            raise self.fail(key, f"must be text, not {_kind(value)}")
        if len(value) > MAX_TEXT_CHARS:
            raise self.fail(key, f"is {len(value)} characters long (at most {MAX_TEXT_CHARS})")

    def number(self, key: str, minimum: int | None = None) -> None:
        value = self.data.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(key, f"must be a whole number, not {_kind(value)}")
        if minimum is not None and value < minimum:
            raise self.fail(key, f"must be {minimum} or more")

    def truth(self, key: str) -> None:
        value = self.data.get(key, False)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, not {_kind(value)}")

    def texts(self, key: str) -> None:
        value = self.data.get(key, [])
        if not isinstance(value, list):
            raise self.fail(key, f"must be a list of text, not {_kind(value)}")
        self._limit(key, value)
        for item in value:
            if not isinstance(item, str) or len(item) > MAX_TEXT_CHARS:
                raise self.fail(key, "must hold only text of reasonable length")

    def mapping(self, key: str) -> None:
        value = self.data.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, f"must map names to text, not {_kind(value)}")
        self._limit(key, value)
        for item in value.values():
            if not isinstance(item, str) or len(item) > MAX_TEXT_CHARS:
                raise self.fail(key, "must map names to text of reasonable length")

    def places(self, key: str) -> None:
        """The map: room -> [x, y], each within ``maps.MAX_COORD`` of the start (none: a
        save from before maps, laid out when loaded)."""
        value = self.data.get(key) or {}
        if not isinstance(value, dict):
            raise self.fail(key, f"must map rooms to [x, y], not {_kind(value)}")
        self._limit(key, value)
        for room, cell in value.items():
            where = f"{key}.{room[:60]}"
            if not (
                isinstance(cell, list)
                and len(cell) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) for v in cell)
            ):
                raise self.fail(where, "must be [x, y], two whole numbers")
            if any(abs(v) > MAX_COORD for v in cell):
                raise self.fail(
                    where,
                    f"is at {cell}, more than {MAX_COORD} cells from the start "
                    "(no map is that large)",
                )

    def _limit(self, key: str, value: list[Any] | dict[str, Any]) -> None:
        if len(value) > MAX_LIST_ITEMS:
            raise self.fail(key, f"holds {len(value)} entries (at most {MAX_LIST_ITEMS})")
        if isinstance(value, dict) and any(len(name) > MAX_KEY_CHARS for name in value):
            raise self.fail(key, f"has a name longer than {MAX_KEY_CHARS} characters")


def _kind(value: Any) -> str:
    names = {
        dict: "an object",
        list: "a list",
        str: "text",
        bool: "true/false",
        int: "a number",
        float: "a number",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


def check_save(data: dict[str, Any], path: Path | str) -> None:
    """Hold a parsed save to its schema: every field's type and size.

    Raises:
        SaveError: naming the file and the field, e.g. ``game.state.won must be true or
            false, not text``.
    """
    top = _Fields(path, "save", data)
    for key in ("world", "format"):
        top.text(key, required=True)
    for key in ("world_title", "world_file", "saved_at"):
        top.text(key)
    top.number("version", minimum=0)
    if "game" not in data:
        raise top.fail("game", "is missing")
    game = _Fields(path, "game", data["game"])
    game.text("world")
    game.text("note")
    game.number("seed")
    game.mapping("cache")
    if "state" not in game.data:
        raise game.fail("state", "is missing")
    state = _Fields(path, "game.state", game.data["state"])
    state.text("room", required=True)
    state.number("turn", minimum=0)
    state.mapping("locations")
    state.mapping("quests")
    for key in ("closed", "locked", "unlocked", "flags", "visited", "story"):
        state.texts(key)
    state.truth("won")
    state.places("map")


@dataclass
class OpenedSave:
    """A save read and checked, ready to become a game (``Game.load``)."""

    path: Path
    world: World
    game: Any
    """The save's "game" object, as ``Game.from_dict`` takes it."""
    label: str = ""
    """How messages name it (``save_label``)."""


def save_label(path: Path, by_name: bool) -> str:
    """How messages name a save: by its name ('quicksave') when the player gave a name, as
    "save NAME" and the Load list show it; by its path only when they gave a path."""
    return f"'{path.stem}'" if by_name else str(path)


def saved_text(path: Path) -> str:
    """What the game says once a save is written: the same after "save NAME" and Ctrl+S."""
    return f"Saved as '{path.stem}' ({path.name})."


def open_save(
    name_or_path: str,
    saves_dir: Path,
    world: World | None = None,
    *,
    allow_path: bool = True,
) -> OpenedSave:
    """Find a save by name (in ``saves_dir``) or by path, read it and find its world.

    Args:
        name_or_path: a save name, a path to a ``.json`` save, or "autosave" for the
            newest autosave (of ``world`` when it is given, else of any game).
        saves_dir: the saves folder.
        world: the world being played; a save for another world is refused. When None,
            the save's world is found by name (or by the file it was loaded from).
        allow_path: whether a path outside ``saves_dir`` may be given; the command line
            may, a command typed in the game may not (it names saves in the folder).

    Raises:
        SaveError: the file is missing, broken, of an unknown version, or for another
            world. Nothing on disk is changed.
    """
    if allow_path:
        path = _locate(name_or_path, saves_dir)
    else:
        text = str(name_or_path).strip()
        if "/" in text or "\\" in text or text.startswith(("~", ".")):
            raise SaveError(
                f"'{text[:80]}': only saves in the saves folder can be loaded here, by name "
                "(see the Load list); to load a file elsewhere, pass it with --load"
            )
        path = save_path(text.removesuffix(".json"), saves_dir)
    if path.stem == AUTOSAVE_NAME and not path.exists():
        # "autosave" means the newest game's autosave, now that each game has its own slot
        # (of the world being played, when there is one).
        latest = latest_autosave(saves_dir, world.name if world is not None else None)
        if latest is not None:
            path = latest.path
    # Named as the player named it: a save by its name, a file given as a path by its path.
    label = save_label(path, by_name=not (allow_path and _is_path(str(name_or_path).strip())))
    data = read_save(path, label)
    saved_world = data.get("world")
    if not isinstance(saved_world, str):
        raise SaveError(f"{label}: the save does not say which world it is for")
    if world is not None and saved_world != world.name:
        raise SaveError(f"{label}: this save is for world '{saved_world}', not '{world.name}'")
    if world is None:
        try:
            world = load_world(find_world(saved_world))
        except WorldError as error:
            world_file = data.get("world_file") or ""
            if not (isinstance(world_file, str) and world_file and Path(world_file).is_file()):
                raise SaveError(f"{label}: the save's world cannot be loaded: {error}") from None
            try:
                world = load_world(Path(world_file))
            except WorldError as inner:
                raise SaveError(f"{label}: the save's world cannot be loaded: {inner}") from None
    if world.name != saved_world:
        raise SaveError(f"{label}: this save is for world '{saved_world}', not '{world.name}'")
    return OpenedSave(path, world, data.get("game"), label)


def new_autosave_name(world: str) -> str:
    """A fresh autosave slot for a new game: "autosave-lanternfall-261129-041502-9f3a".

    Every game autosaves into its own slot, so starting another game never overwrites the
    autosave of one already played; "Continue" picks the newest slot.
    """
    # Short and plain enough to pass save_name unchanged (40 characters at most).
    world = re.sub(r"[^a-z0-9]+", "-", world.casefold()).strip("-")[:12].strip("-") or "world"
    stamp = time.strftime("%y%m%d-%H%M%S", time.gmtime())
    return f"{AUTOSAVE_NAME}-{world}-{stamp}-{secrets.token_hex(2)}"


@dataclass
class SavePolicy:
    """Where a game saves and when it saves itself; the engine and the UI both ask it.

    A game autosaves into its own slot: after every ``autosave_every`` turns, when the
    player types "quit", and when the player leaves it (the UI starting another game, or
    closing) with turns played since it was started or last saved on leaving. An autosave
    written during a turn does not count for leaving: the turn's prose arrives after it.
    A game that was loaded (``loaded``) is saved on leaving even with no turn played: the
    autosave belongs to the game being played, so "Continue" comes back to it and not to
    the game that was left for it. A failed autosave is reported, never raised: the player
    is never trapped.

    Attributes:
        saves_dir: where "save", "load" and autosaves go; None turns saving off.
        autosave_name: the slot this game autosaves into (kept when an autosave is loaded).
        autosave_every: autosave after this many turns (0: only on quit and on leaving).
        autosave: False turns autosaving off entirely (scripted runs use this, so a test
            never overwrites a player's autosave).
        saved_turn: the turn when the game was started or last saved on leaving; None
            while its slot does not hold it yet (just loaded).
    """

    saves_dir: Path | None
    autosave_name: str
    autosave_every: int = 5
    autosave: bool = True
    saved_turn: int | None = 0

    def loaded(self) -> None:
        """The game was loaded (from a save, or "load" in play): its slot does not hold it
        yet, so leaving saves it, whatever turn it is."""
        self.saved_turn = None

    def save(self, game: Game, name: str) -> Path:
        """Save the game under ``name`` in the saves folder.

        Raises:
            StateError: saving is off in this game (no saves folder).
            SaveError: the name is unusable or the file cannot be written.
        """
        if self.saves_dir is None:
            raise StateError("saving is off in this game (no saves folder)")
        return save_game(game, name, self.saves_dir)

    def after_turn(self, game: Game) -> str:
        """Autosave if this turn is one of every ``autosave_every``; returns any failure."""
        if self.autosave_every <= 0 or game.turn % self.autosave_every:
            return ""
        return self._autosave(game)

    def on_quit(self, game: Game) -> str:
        """The player typed "quit": autosave now; returns any failure."""
        problem = self._autosave(game)
        if not problem:  # a failed save is tried again on leaving (or the next load)
            self.saved_turn = game.turn
        return problem

    def before_leaving(self, game: Game) -> str:
        """The player leaves the game: autosave if turns were played since it was started
        or last saved on leaving, or if it was loaded since; returns any failure."""
        if game.turn == self.saved_turn:
            return ""
        return self.on_quit(game)

    def _autosave(self, game: Game) -> str:
        if not (self.autosave and self.saves_dir is not None):
            return ""
        try:
            save_game(game, self.autosave_name, self.saves_dir)
        except (OSError, SaveError) as error:
            return str(error)
        return ""


def is_autosave(name: str) -> bool:
    return name == AUTOSAVE_NAME or name.startswith(f"{AUTOSAVE_NAME}-")


def latest_autosave(saves_dir: Path, world: str | None = None) -> SaveInfo | None:
    """The newest autosave (what "Continue" opens), or None.

    Args:
        saves_dir: the saves folder.
        world: only this world's autosaves (the world named with ``--world``); None for
            the newest game of any world.
    """
    found = [
        info
        for info in list_saves(saves_dir)
        if is_autosave(info.name) and (world is None or info.world == world)
    ]
    if not found:
        return None

    def written(info: SaveInfo) -> tuple[str, int]:
        try:
            return info.saved_at, info.path.stat().st_mtime_ns
        except OSError:
            return info.saved_at, 0

    return max(found, key=written)


def list_saves(saves_dir: Path, problems: list[str] | None = None) -> list[SaveInfo]:
    """Every readable save in the folder, newest first.

    A broken file is skipped (its reason appended to ``problems`` when given); one bad
    file never hides or breaks the others. Only regular files are read (``read_save``): a
    FIFO or a device named like a save is listed as a problem, never opened. Saves are
    named by their names, never by the folder's path (which a web player must not see).
    """
    found = []
    folder = Path(saves_dir)
    if not folder.is_dir():
        return []
    for path in sorted(folder.glob("*.json")):
        label = save_label(path, by_name=True)
        try:
            data = read_save(path, label)
            turn = data["game"]["state"].get("turn", 0)
            saved_at, title = str(data.get("saved_at", "")), str(data.get("world_title", ""))
            found.append(SaveInfo(path.stem, path, data["world"], turn, saved_at, title))
        except SaveError as error:
            if problems is not None:
                problems.append(str(error))
        except Exception as error:  # noqa: BLE001 - a hostile file must not break the list
            if problems is not None:
                problems.append(f"{label}: broken save ({type(error).__name__})")
    return sorted(found, key=lambda info: (info.saved_at, info.name), reverse=True)


def clean_saves_folder(saves_dir: Path) -> list[Path]:
    """At start: remove temp files that saves killed mid-write left behind.

    Returns:
        The files removed.
    """
    if not Path(saves_dir).is_dir():
        return []
    return clean_stale_temps(Path(saves_dir))
