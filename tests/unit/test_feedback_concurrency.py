"""Feedback that is never lost (issue 25): a lock held by another program is waited out,
records wait in a bounded queue and are written later, a drop is counted and said, several
games write at once, and the readers read a database they may not write."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.feedback_writers import record_at_once
from textgamegen.__main__ import main
from textgamegen.feedback import store
from textgamegen.feedback.recorder import Recorder


def wait_until(condition: Callable[[], bool], what: str, limit_s: float = 60.0) -> None:
    """Wait for a condition; the limit only ends a hung test, it is no speed check."""
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)


def rows_of(path: Path) -> list[dict]:
    with store.open_store(path, readonly=True) as db:
        return store.narrations(db)


@contextmanager
def write_lock(path: Path) -> Iterator[sqlite3.Connection]:
    """Another program holding the database's write lock (a sqlite3 shell, a long query)."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield holder
    finally:
        holder.rollback()
        holder.close()


def test_a_lock_longer_than_the_busy_timeout_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "feedback.db"
    store.connect(path).close()
    recorder = Recorder(path)
    with write_lock(path):
        ids = [recorder.narration(model="m", kind="action", text=f"Line {n}.") for n in range(50)]
        recorder.rate(ids[0], "good")
        # The game's calls all returned while the lock is held: it never waits on the disk.
        assert len(set(ids)) == 50
        # The writer met the lock, waited its busy timeout, and keeps the records to retry.
        wait_until(lambda: recorder.retries >= 2, "the writer retried the locked database")
        assert not recorder.flush(timeout=0.1), "nothing can be written while it is locked"
        assert recorder.enabled and recorder.take_notices() == []
    assert recorder.flush(timeout=60), "written once the lock went"
    recorder.close()
    rows = rows_of(path)
    assert len(rows) == 50 and {row["id"] for row in rows} == set(ids)
    assert [row["rating"] for row in rows if row["id"] == ids[0]] == ["good"]
    assert recorder.dropped == 0 and recorder.enabled and recorder.take_notices() == []


def test_the_queue_is_bounded_and_a_drop_says_how_many_and_where(tmp_path: Path) -> None:
    path = tmp_path / "feedback.db"
    store.connect(path).close()
    recorder = Recorder(path, max_pending=10)
    with write_lock(path):
        for n in range(25):
            recorder.narration(model="m", kind="action", text=f"Line {n}.")
        wait_until(lambda: recorder.dropped == 15, "the oldest 15 dropped")
        wait_until(lambda: recorder.retries >= 1, "the writer met the lock")
    assert recorder.flush(timeout=60)
    recorder.close()
    # Ten were kept and written, the newest among them; the drop is counted and said,
    # naming the file.
    texts = [row["text"] for row in rows_of(path)]
    assert len(texts) == 10 and "Line 24." in texts
    notices = recorder.take_notices()
    assert any("15 records were dropped" in notice and str(path) in notice for notice in notices)
    assert recorder.enabled


def test_records_still_locked_when_the_game_ends_are_counted_and_said(tmp_path: Path) -> None:
    path = tmp_path / "feedback.db"
    store.connect(path).close()
    recorder = Recorder(path)
    with write_lock(path):
        for n in range(3):
            recorder.narration(model="m", kind="action", text=f"Line {n}.")
        wait_until(lambda: recorder.retries >= 1, "the writer met the lock")
        # Closing retries for most of its timeout, then counts what it could not write.
        recorder.close(timeout=3 * store.BUSY_TIMEOUT_MS / 1000)
        wait_until(lambda: not recorder._thread.is_alive(), "the writer stopped")
    assert recorder.dropped == 3
    notices = recorder.take_notices()
    assert len(notices) == 1 and "3 records were dropped" in notices[0] and str(path) in notices[0]


def test_a_lock_held_while_opening_is_waited_out_too(tmp_path: Path) -> None:
    # The recorder's first connection migrates the schema, which needs the write lock.
    path = tmp_path / "feedback.db"
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA journal_mode = WAL")
    raw.close()
    with write_lock(path):
        recorder = Recorder(path)
        recorder.narration(model="m", kind="action", text="Early.")
        wait_until(lambda: recorder.retries >= 1, "the writer met the lock")
        assert recorder.enabled
    assert recorder.flush(timeout=60)
    recorder.close()
    assert len(rows_of(path)) == 1


def test_four_games_recording_at_once_lose_nothing(tmp_path: Path) -> None:
    # Four processes, each with its own recorder on one database, while another connection
    # holds the write lock past the busy timeout (bench/feedback_writers.py runs it larger).
    lock_s = 2 * store.BUSY_TIMEOUT_MS / 1000
    result = record_at_once(tmp_path / "feedback.db", games=4, narrations=500, lock_s=lock_s)
    assert (result["asked"], result["recorded"], result["lost"]) == (2000, 2000, 0), result
    assert result["dropped"] == 0 and result["retries"] >= 1
    assert all(game["enabled"] and not game["notices"] for game in result["per_game"])


# -- readers: a database the reader may not write --------------------------------------


def _recorded(path: Path) -> None:
    recorder = Recorder(path)
    first = recorder.narration(model="m", kind="action", text="One.", total_ms=10.0)
    recorder.narration(model="m", kind="room", text="Two.", total_ms=20.0)
    recorder.rate(first, "good")
    recorder.close()


@contextmanager
def unwritable(paths: list[Path]) -> Iterator[None]:
    """Files (and folders) nobody may write: by mode, or for root (who ignores modes) by
    the immutable attribute. Skips where neither works on this filesystem."""
    if os.geteuid() != 0:
        modes = [(path, path.stat().st_mode) for path in paths]
        for path in paths:
            path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            for path, mode in modes:
                path.chmod(mode)
        return
    done: list[Path] = []
    try:
        for path in paths:
            result = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
            if result.returncode != 0:
                pytest.skip(f"cannot make {path} read-only here: {result.stderr!r}")
            done.append(path)
        yield
    finally:
        for path in done:
            subprocess.run(["chattr", "-i", str(path)], check=False)


@pytest.mark.parametrize("folder_too", [False, True], ids=["file", "file-and-folder"])
def test_readers_read_a_read_only_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], folder_too: bool
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "feedback.db"
    _recorded(path)
    # The WAL's side files are gone once the last writer closed; only the database is left.
    assert sorted(p.name for p in folder.iterdir()) == ["feedback.db"]
    with unwritable([path, folder] if folder_too else [path]):
        with pytest.raises(OSError):
            path.open("r+b").close()
        assert main(["feedback", "stats", "--db", str(path), "--json"]) == 0
        stats = json.loads(capsys.readouterr().out)
        assert stats["models"]["m"] == {"narrations": 2, "labels": {"good": 1, "kept": 1}}
        assert main(["feedback", "export", "--db", str(path)]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert [json.loads(line)["text"] for line in lines] == ["One.", "Two."]
        assert main(["monitor", "--db", str(path), "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report[0]["model"] == "m" and report[0]["overall"]["narrations"] == 2


def test_a_reader_never_migrates_or_writes(tmp_path: Path) -> None:
    path = tmp_path / "feedback.db"
    _recorded(path)
    before = path.read_bytes()
    db = store.connect_readonly(path)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        db.execute("DELETE FROM narrations")
    assert len(store.narrations(db)) == 2
    db.close()
    assert path.read_bytes() == before


def test_a_reader_refuses_what_is_not_a_feedback_database(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    raw = sqlite3.connect(other)
    raw.execute("CREATE TABLE notes (x)")
    raw.commit()
    raw.close()
    with pytest.raises(store.StoreError, match="not a feedback database"):
        store.connect_readonly(other)
    newer = tmp_path / "newer.db"
    store.connect(newer).close()
    raw = sqlite3.connect(newer)
    raw.execute("INSERT INTO migrations VALUES (99, 'from the future', 'x')")
    raw.commit()
    raw.close()
    with pytest.raises(store.StoreError, match="newer"):
        store.connect_readonly(newer)
    with pytest.raises(store.StoreError, match="does not exist"):
        store.connect_readonly(tmp_path / "missing.db")
