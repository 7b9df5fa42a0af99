"""Atomic file writes: a reader sees the old file or the new one, never half of one.

``write_atomic`` does it for one file; ``replace_dir`` for a whole folder (a registered
model, an unpacked base, a merged adapter, an export).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# A temp file older than this is stale whoever wrote it: a save takes milliseconds.
STALE_AFTER_S = 600.0
# ".NAME.PID-RANDOM.tmp": the writer's process id lets a later start tell a crash's leftover
# from a save still being written.
_TEMP = re.compile(r"^\..+?\.(?:(?P<pid>\d+)-)?[^.]*\.tmp$")


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file in the same folder, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        # Leave the old file untouched and no stray temp file behind.
        Path(tmp_name).unlink(missing_ok=True)
        raise
    # fsync the folder so the rename itself survives a power cut (POSIX only).
    if hasattr(os, "O_DIRECTORY"):
        dir_fd = os.open(path.parent, os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@contextmanager
def replace_dir(target: Path) -> Iterator[Path]:
    """Stage a folder beside ``target``, then put it in ``target``'s place whole.

    Yields an empty folder in ``target``'s parent (the same file system, so the renames are
    atomic) for the caller to fill. When the block ends, the old ``target`` is renamed
    aside, the staged folder renamed to ``target``, and the old one removed. When the block
    raises, or the swap fails, the staged folder is removed and ``target`` stays as it was.

    Usage::

        with replace_dir(models_dir / name) as staging:
            model.save_pretrained(staging)
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield staging
        _swap_in(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _swap_in(staging: Path, target: Path) -> None:
    # The staged name is unique, so two processes replacing one folder never share the
    # name the old folder is set aside under.
    old = staging.with_name(staging.name.removesuffix(".tmp") + ".old")
    if target.exists():
        os.replace(target, old)
    try:
        os.replace(staging, target)
    except BaseException:
        if old.exists() and not target.exists():
            os.replace(old, target)
        raise
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    elif old.exists() or old.is_symlink():
        old.unlink()  # a file or link was in the way (``export-vllm --force``)


def _process_alive(pid: int) -> bool | None:
    """Whether process ``pid`` runs; None when this platform cannot tell safely."""
    if os.name == "nt":
        return None  # os.kill(pid, 0) would terminate the process on Windows
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    except OSError:
        return None
    return True


def clean_stale_temps(folder: Path, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove the temp files ``write_atomic`` left when its process was killed mid-write.

    A temp file goes when the process that wrote it is gone, or when it is older than
    ``older_than_s`` (files from before process ids were recorded, or a reused id).
    A save being written right now by a live process is left alone.

    Returns:
        The files removed.
    """
    removed: list[Path] = []
    try:
        candidates = list(Path(folder).glob(".*.tmp"))
    except OSError:
        return removed
    now = time.time()
    for path in candidates:
        found = _TEMP.match(path.name)
        if found is None:
            continue
        try:
            age = now - path.stat().st_mtime
        except OSError:
            continue
        pid = found.group("pid")
        dead = pid is not None and _process_alive(int(pid)) is False
        if dead or age > older_than_s:
            try:
                path.unlink()
            except OSError:
                continue
            removed.append(path)
    return removed
