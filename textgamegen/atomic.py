"""Atomic file writes: a reader sees the old file or the new one, never half of one.

``write_atomic`` does it for one file; ``replace_dir`` for a whole folder (a registered
model, an unpacked base, a merged adapter, an export); ``point_link`` flips a symbolic link
(the registry's production version). A process killed midway leaves the old folder whole,
and the staged folders it leaves (``.NAME.PID-XXXX.tmp``, ``.NAME.PID-XXXX.old``) are
removed by the next ``replace_dir`` of that folder, which says so on stderr.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import sys
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
_RENAME_EXCHANGE = 2  # linux/fs.h: swap the two names in one step
_AT_FDCWD = -100  # paths relative to the working folder


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
    _fsync_folder(path.parent)


def exchange(first: Path, second: Path) -> bool:
    """Swap two existing paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``).

    Returns:
        True when swapped; False where the platform or file system cannot, and then
        nothing was changed.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    renameat2.argtypes += [ctypes.c_uint]
    if (
        renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
        == 0
    ):
        return True
    code = ctypes.get_errno()
    if code in (38, 22, 95):  # ENOSYS, EINVAL, EOPNOTSUPP: no exchange here
        return False
    raise OSError(code, os.strerror(code), str(first))


def _staging_name(target: Path) -> str:
    # The writer's process id in the name lets a later start tell a killed run's leftover
    # from a folder being filled right now.
    return f".{target.name}.{os.getpid()}-"


@contextmanager
def replace_dir(target: Path) -> Iterator[Path]:
    """Stage a folder beside ``target``, then put it in ``target``'s place whole.

    Yields an empty folder in ``target``'s parent (the same file system, so the renames are
    atomic) for the caller to fill. When the block ends, the staged folder and ``target``
    are exchanged in one step (Linux), or, where that cannot be done, the old ``target`` is
    renamed aside and the staged folder renamed to ``target``; the old one is then removed.
    When the block raises, or the swap fails, the staged folder is removed and ``target``
    stays as it was. A kill at any point leaves ``target`` whole (or, between the two
    renames of the fallback, the old folder aside, which the next call puts back).

    Usage::

        with replace_dir(models_dir / name) as staging:
            model.save_pretrained(staging)
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_staged_in(target.parent)
    staging = Path(tempfile.mkdtemp(prefix=_staging_name(target), suffix=".tmp", dir=target.parent))
    try:
        yield staging
        _swap_in(staging, target)
    finally:
        if staging.exists() or staging.is_symlink():
            _remove(staging)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)  # a file or link was in the way (``export-vllm --force``)


def _swap_in(staging: Path, target: Path) -> None:
    if (target.exists() or target.is_symlink()) and exchange(staging, target):
        return  # the old folder is now at the staged name, which the caller removes
    # The staged name is unique, so two processes replacing one folder never share the
    # name the old folder is set aside under.
    old = staging.with_name(staging.name.removesuffix(".tmp") + ".old")
    if target.exists() or target.is_symlink():
        os.replace(target, old)
    try:
        os.replace(staging, target)
    except BaseException:
        if (old.exists() or old.is_symlink()) and not target.exists():
            os.replace(old, target)
        raise
    if old.exists() or old.is_symlink():
        _remove(old)


def point_link(link: Path, destination: str) -> None:
    """Make ``link`` a symbolic link to ``destination`` in one step (a new link renamed
    over the old one); a real folder in its place is exchanged for the link whole.

    Args:
        link: the link's path.
        destination: what it points to, relative to the link's folder.
    """
    link = Path(link)
    temp = link.with_name(f"{_staging_name(link)}{os.urandom(4).hex()}.tmp")
    os.symlink(destination, temp, target_is_directory=True)
    try:
        if link.is_dir() and not link.is_symlink():
            if not exchange(temp, link):
                raise OSError(
                    f"{link}: a real folder cannot be swapped for a link in one step here"
                )
            shutil.rmtree(temp, ignore_errors=True)  # the old folder, now at the temp name
            return
        os.replace(temp, link)
    finally:
        if temp.is_symlink():
            temp.unlink()
    _fsync_folder(link.parent)


def _fsync_folder(folder: Path) -> None:
    if hasattr(os, "O_DIRECTORY"):
        dir_fd = os.open(folder, os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


_STAGED = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[^.]*\.(?P<kind>tmp|old)$")


def clean_staged_in(folder: Path) -> list[Path]:
    """``clean_staged_dirs`` for every folder that has staged leftovers in ``folder``."""
    try:
        names = {m.group("name") for p in Path(folder).iterdir() if (m := _STAGED.match(p.name))}
    except OSError:
        return []
    return [path for name in sorted(names) for path in clean_staged_dirs(Path(folder) / name)]


def clean_staged_dirs(target: Path, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove what killed runs left beside ``target``: staged folders (``.tmp``) and old
    folders set aside (``.old``), of processes that are gone (or, where that cannot be
    told, older than ``older_than_s``). An old folder set aside while ``target`` is missing
    (a kill between the two renames of the fallback swap) is put back instead. Says on
    stderr what it did.

    Returns:
        What was removed.
    """
    target = Path(target)
    removed: list[Path] = []
    try:
        found = [(path, _STAGED.match(path.name)) for path in target.parent.iterdir()]
    except OSError:
        return removed
    now = time.time()
    for path, match in found:
        if match is None or match.group("name") != target.name:
            continue
        try:
            age = now - path.lstat().st_mtime
        except OSError:
            continue
        alive = _process_alive(int(match.group("pid")))
        if alive or (alive is None and age <= older_than_s):
            continue  # a live process may still be filling or swapping it
        if match.group("kind") == "old" and not (target.exists() or target.is_symlink()):
            os.replace(path, target)
            print(
                f"textgamegen: put {target} back from {path.name}, where a killed run left it",
                file=sys.stderr,
            )
            continue
        _remove(path)
        removed.append(path)
    if removed:
        print(
            f"textgamegen: removed {len(removed)} staged folder(s) that killed runs left beside "
            f"{target}: {', '.join(path.name for path in removed)}",
            file=sys.stderr,
        )
    return removed


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
