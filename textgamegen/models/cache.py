"""What the model cache folder holds, and the removal of what nothing reads any more.

The cache (``bases.cache_root``: the user cache folder, or ``TEXTGAMEGEN_CACHE_DIR``) holds

* ``bases/<sha256>``: each GGUF base unpacked once to float32 safetensors (SmolLM2-135M:
  517 MiB), shared by every narrator trained on it; the game reads it at every start.
* ``merged/<key>``: from older versions only. Before adapters were merged in memory, the
  game, training, the benches and the vLLM export each wrote a merged float32 copy of an
  adapter and its base there (517 MiB each, one more whenever a narrator changed). No code
  reads or writes that folder now.

Dead, and removed, are every ``merged/`` folder, and a base folder whose ``base.json`` is
missing, unreadable or of another format (it would be unpacked again anyway). The game's
loader removes them once per process (``prune_dead_quietly``); ``textgamegen cache`` lists
the cache and ``textgamegen cache prune`` removes them too.

Removal is careful: a link is never followed nor removed (it may point anywhere), nothing
but a real folder directly in the cache's own ``bases/`` or ``merged/`` is touched, hidden
names (``atomic``'s staging folders, a write in progress) are left to their writer, a
folder's marker goes first so that a removal cut short never leaves a base that looks
whole, and a failure is reported, never raised to the game. A dead folder that changed in the last
hour is left for a later prune: an older version still running on the machine (the game,
or a training run's evaluation) may have just written it, to read it next.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from textgamegen.models.bases import CACHE_FORMAT, cache_root

BASES = "bases"
MERGED = "merged"
MARKERS = {BASES: "base.json", MERGED: "merged.json"}
"""Each kind's folder, and the file that says one of its entries is whole."""
MERGED_IS_DEAD = "a merged copy: narrators are merged in memory, nothing reads these now"
SETTLE_S = 3600.0
"""A dead folder changed more recently than this is left for a later prune: an older
version of the game (or its training) still running may have just written it to read."""


@dataclass(frozen=True)
class CacheEntry:
    """One folder (or stray file, or link) in the cache.

    Attributes:
        kind: "base", "merged", or "link" / "other" for what the cache does not write.
        path: where it is.
        size: bytes on disk, links not followed.
        dead: why no code can read it again; "" while it may be read.
        source: what it was made from (the GGUF, the adapter), when its marker says.
        recent: changed within ``SETTLE_S``: not removed yet, even when dead.
    """

    kind: str
    path: Path
    size: int
    dead: str = ""
    source: str = ""
    recent: bool = False


@dataclass
class PruneReport:
    """What a prune removed, and what it could not."""

    removed: list[CacheEntry] = field(default_factory=list)
    failed: list[tuple[CacheEntry, str]] = field(default_factory=list)

    @property
    def freed(self) -> int:
        return sum(entry.size for entry in self.removed)


def size_text(size: int) -> str:
    """Bytes as ``du -h`` counts them: "517 MiB", "3.1 GiB"."""
    if size >= 1 << 30:
        return f"{size / (1 << 30):.1f} GiB"
    if size >= 1 << 20:
        return f"{size / (1 << 20):.0f} MiB"
    return f"{size / (1 << 10):.0f} KiB"


def _size(path: Path) -> int:
    """Bytes under ``path``, links counted as themselves and never followed."""
    try:
        info = path.lstat()
    except OSError:
        return 0
    if not stat.S_ISDIR(info.st_mode):
        return info.st_blocks * 512 if hasattr(info, "st_blocks") else info.st_size
    total = 0
    for folder, dirs, files in os.walk(path, followlinks=False):
        for name in files + dirs:
            try:
                child = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            if not stat.S_ISDIR(child.st_mode):
                total += child.st_blocks * 512 if hasattr(child, "st_blocks") else child.st_size
    return total


def _marker(path: Path, kind: str) -> dict | None:
    try:
        data = json.loads((path / MARKERS[kind]).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _changed_within(path: Path, seconds: float) -> bool:
    """Whether the folder or anything directly in it changed in the last ``seconds``."""
    try:
        times = [path.lstat().st_mtime] + [child.lstat().st_mtime for child in path.iterdir()]
    except OSError:
        return True  # cannot tell: not removed
    return time.time() - max(times) < seconds


def _entry(path: Path, kind: str) -> CacheEntry:
    size = _size(path)
    if path.is_symlink():
        return CacheEntry("link", path, size, "", os.readlink(path))
    if not path.is_dir():
        return CacheEntry("other", path, size)
    marker = _marker(path, kind)
    if kind == MERGED:
        adapter = str((marker or {}).get("adapter", ""))
        recent = _changed_within(path, SETTLE_S)
        return CacheEntry("merged", path, size, MERGED_IS_DEAD, adapter, recent)
    source = str((marker or {}).get("source", ""))
    if marker is None:
        dead = "no readable base.json (it would be unpacked again)"
    elif marker.get("format") != CACHE_FORMAT:
        dead = f"unpacked in another format ({marker.get('format')!r})"
    elif not str(marker.get("sha256", "")).startswith(path.name):
        dead = "its name is not its GGUF file's hash"
    else:
        dead = ""
    recent = bool(dead) and _changed_within(path, SETTLE_S)  # perhaps being unpacked
    return CacheEntry("base", path, size, dead, source, recent)


def entries(root: Path | None = None) -> list[CacheEntry]:
    """Everything in the cache, base and merged folders judged; nothing is changed.

    Hidden names (``atomic``'s staging folders, a write in progress) are not listed.
    """
    root = Path(root) if root is not None else cache_root()
    found: list[CacheEntry] = []
    try:
        children = sorted(root.iterdir())
    except OSError:
        return found
    for child in children:
        if child.name.startswith("."):
            continue
        if child.name in MARKERS and child.is_dir() and not child.is_symlink():
            try:
                inside = sorted(child.iterdir())
            except OSError:
                continue
            found += [_entry(path, child.name) for path in inside if not path.name.startswith(".")]
        else:
            found.append(_entry(child, "") if child.is_symlink() else _other(child))
    return found


def _other(path: Path) -> CacheEntry:
    return CacheEntry("other", path, _size(path))


def remove(entry: CacheEntry, root: Path | None = None) -> str:
    """Remove one base or merged folder; returns why it could not be, "" when it was.

    Only a real folder directly in the cache's ``bases/`` or ``merged/`` is removed, never
    a link nor anything a link leads to. Its marker goes first: a removal cut short leaves
    a folder that no code takes for whole (and the next prune finishes it).
    """
    root = Path(root) if root is not None else cache_root()
    path = entry.path
    try:
        inside = path.parent.parent.resolve() == root.resolve() and path.parent.name in MARKERS
        if entry.kind not in ("base", "merged") or not inside or path.parent.is_symlink():
            return "not a base or merged folder of the cache"
        if path.is_symlink() or not path.is_dir():
            return "not a folder (a link is never followed)"
        (path / MARKERS[path.parent.name]).unlink(missing_ok=True)
    except OSError as error:
        return error.strerror or str(error)
    errors: list[str] = []

    def failed(_function: object, name: str, info: tuple) -> None:
        if not isinstance(info[1], FileNotFoundError):  # another prune got there first
            errors.append(f"{name}: {getattr(info[1], 'strerror', None) or info[1]}")

    shutil.rmtree(path, onerror=failed)  # never follows a link inside: it unlinks it
    return errors[0] if errors else ""


def prune(root: Path | None = None) -> PruneReport:
    """Remove the dead folders: every merged copy, and bases no code would read, unless
    they changed in the last hour (``SETTLE_S``).

    Returns:
        What was removed and what could not be (with why); nothing is raised.
    """
    report = PruneReport()
    for entry in entries(root):
        if entry.kind not in ("base", "merged") or not entry.dead or entry.recent:
            continue
        problem = remove(entry, root)
        if problem:
            report.failed.append((entry, problem))
        else:
            report.removed.append(entry)
    return report


_pruned = threading.Event()


def prune_dead_quietly() -> str:
    """The loader's clean-up, once per process: remove the dead folders and say what was
    freed or what could not be removed, for the player's notice; never raises, so the game
    always plays on."""
    if _pruned.is_set():
        return ""
    _pruned.set()
    try:
        report = prune()
    except Exception as error:  # noqa: BLE001 - a clean-up never stops the game
        return f"The model cache was not cleaned up ({type(error).__name__}: {error})."
    parts = []
    if report.removed:
        parts.append(
            f"Freed {size_text(report.freed)} in the model cache: {len(report.removed)} "
            "old merged model copies that nothing reads any more."
        )
    if report.failed:
        entry, problem = report.failed[0]
        parts.append(
            f"An old model copy could not be removed from the cache ({entry.path}: "
            f"{problem}); the game plays on, and `textgamegen cache` lists what is there."
        )
    return " ".join(parts)
