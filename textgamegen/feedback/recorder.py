"""The recorder: narrations and signals go on a queue, a thread writes them in batches.

The game's thread only builds a small record and puts it on a queue (microseconds); the
writer thread takes a batch off it, opens the database, hashes model weights (once per
file, cached by size and mtime), and commits the batch in one transaction
(``BEGIN IMMEDIATE``: it waits its turn behind other games' writes for up to
``store.BUSY_TIMEOUT_MS``).

Nothing is lost to another game's lock. When the database stays locked (another game, a
reader holding it, a full disk), the records wait in memory and the write is retried,
backing off up to ``RETRY_MAX_S``; the game never waits. The wait is bounded: beyond
``MAX_PENDING`` records the oldest are dropped, and the recorder says how many and which
database through ``notices`` and the log (and counts them in ``dropped``). Only a fault
of the file itself (corrupt, read-only, from a newer game) stops recording, said once.

Examples::

    recorder = Recorder()                  # the player's database
    narration_id = recorder.narration(model="textgamegen", kind="action", text="...")
    recorder.rate(narration_id, "good")
    recorder.close()
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

from textgamegen import checksum
from textgamegen.feedback import store

log = logging.getLogger(__name__)

BATCH_SIZE = 64
FLUSH_S = 0.25
"""The writer commits at the latest this long after a record arrives (a kill -9 loses at
most the records of this last moment; what was committed stays)."""
MAX_PENDING = 10_000
"""Records (narrations, signals, ratings) kept in memory while the database cannot be
written; beyond this the oldest are dropped, and counted."""
RETRY_FIRST_S = 0.05
RETRY_MAX_S = 2.0
"""A locked database is tried again after RETRY_FIRST_S, doubling up to RETRY_MAX_S."""
STOP_SHARE = 0.8
"""On ``close(timeout)``, the writer keeps retrying for this share of the timeout, then
reports what it could not write (before the caller stops waiting for it)."""
TEMPLATE_SHA = "template"
"""The weights 'hash' of the template narrator, which has none."""


def weight_files(model_dir: Path) -> list[Path]:
    """The safetensors files of a model directory (full weights or an adapter)."""
    return sorted(model_dir.glob("*.safetensors"))


class WeightHashes:
    """sha256 of model weights, cached in memory and in the ``weights`` table by file size
    and mtime, so a model is hashed once rather than at every start."""

    def __init__(self) -> None:
        self._memory: dict[tuple[str, int, int], str] = {}

    def of_file(self, path: Path, db: sqlite3.Connection | None = None) -> str:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key in self._memory:
            return self._memory[key]
        if db is not None:
            row = db.execute(
                "SELECT sha256 FROM weights WHERE path = ? AND size = ? AND mtime_ns = ?", key
            ).fetchone()
            if row is not None:
                self._memory[key] = row[0]
                return str(row[0])
        digest = checksum.sha256(path)
        self._memory[key] = digest
        if db is not None:
            db.execute("INSERT OR REPLACE INTO weights VALUES (?, ?, ?, ?)", (*key, digest))
        return digest

    def of_model(self, model_dir: str | Path | None, db: sqlite3.Connection | None = None) -> str:
        """The weights' sha256 ("template" without a directory, "" when it has no weights).

        One file gives its own sha256 (what ``sha256sum model.safetensors`` prints and what
        lineage.json records); several give the sha256 of their "name sha256" lines.
        """
        if not model_dir:
            return TEMPLATE_SHA
        files = weight_files(Path(model_dir))
        if not files:
            return ""
        digests = [self.of_file(path, db) for path in files]
        if len(files) == 1:
            return digests[0]
        lines = "".join(f"{p.name} {d}\n" for p, d in zip(files, digests, strict=False))
        return hashlib.sha256(lines.encode()).hexdigest()


class Recorder:
    """Writes narrations and signals to the feedback database from a background thread.

    Args:
        path: the database (default: ``store.db_path()``).
        batch_size: at most this many operations per transaction.
        flush_s: how long the writer waits for more before committing.
        max_pending: records kept waiting while the database is locked (``MAX_PENDING``).
        shown: how notices name the database (default: its path).
    """

    def __init__(
        self,
        path: Path | None = None,
        *,
        batch_size: int = BATCH_SIZE,
        flush_s: float = FLUSH_S,
        max_pending: int = MAX_PENDING,
        shown: str | None = None,
    ) -> None:
        self.path = path or store.db_path()
        self.shown = shown if shown is not None else str(self.path)
        self.batch_size = max(1, batch_size)
        self.flush_s = flush_s
        self.max_pending = max(1, max_pending)
        self.enabled = True
        self.written = 0
        """Operations committed so far (for tests and the bench)."""
        self.dropped = 0
        """Operations dropped because the database stayed locked past ``max_pending``."""
        self.retries = 0
        """Writes put off because the database was locked (for tests and the bench)."""
        # The queue: records wait here until committed. One condition guards it, the
        # batch being written (``_in_flight`` records, never dropped while in flight),
        # the flushes waiting and the stop.
        self._wake = threading.Condition()
        self._pending: deque[tuple[Any, ...]] = deque()
        self._in_flight = 0
        self._flushes: list[threading.Event] = []
        self._stop_at: float | None = None
        self._dropped_told = 0
        self._dropping_told = False
        self._busy_since: float | None = None
        self._notices: deque[str] = deque()
        self._hashes = WeightHashes()
        self._thread = threading.Thread(target=self._run, name="feedback-writer", daemon=True)
        self._thread.start()

    # -- the game's side: cheap, never raises, never waits on the disk --------------------

    def narration(
        self,
        *,
        model: str,
        kind: str,
        text: str,
        prompt: str = "",
        model_path: str | Path | None = None,
        backend: str = "",
        first_token_ms: float | None = None,
        total_ms: float | None = None,
        tokens: int | None = None,
        fallback: bool = False,
        cancelled: bool = False,
        session: str = "",
        world: str = "",
        turn: int = 0,
        scripted: bool = False,
        model_version: str = "",
    ) -> str:
        """Queue one narration; returns its id (usable for signals at once)."""
        narration_id = uuid.uuid4().hex
        if not self.enabled:
            return narration_id
        record = store.NarrationRecord(
            id=narration_id,
            created_at=store.now_iso(),
            model=str(model),
            kind=str(kind),
            text=str(text),
            prompt=str(prompt),
            session=session,
            world=world,
            turn=int(turn),
            model_path=str(model_path or ""),
            backend=str(backend),
            first_token_ms=first_token_ms,
            total_ms=total_ms,
            tokens=tokens,
            fallback=bool(fallback),
            cancelled=bool(cancelled),
            scripted=bool(scripted),
            model_version=str(model_version),
        )
        self._put(("narration", record))
        return narration_id

    def signal(self, narration_id: str, signal: str) -> None:
        """Mark a narration cancelled (Esc), retried or undone."""
        if self.enabled and signal in store.SIGNALS:
            self._put(("signal", narration_id, signal))

    def rate(self, narration_id: str, rating: str) -> None:
        """Rate a narration good or bad (a later rating replaces an earlier one)."""
        if self.enabled and rating in store.RATINGS:
            self._put(("rate", narration_id, rating, store.now_iso()))

    def _put(self, op: tuple[Any, ...]) -> None:
        with self._wake:
            self._pending.append(op)
            self._bound()
            self._wake.notify()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far is written (or dropped). True if done;
        False while the database stays locked (the records still wait to be written)."""
        if not self._thread.is_alive():
            return True
        done = threading.Event()
        with self._wake:
            self._flushes.append(done)
            self._wake.notify()
        return done.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued and stop the thread. A database still locked is retried
        for most of ``timeout``; what could not be written is then counted and reported."""
        if self._thread.is_alive():
            with self._wake:
                self._stop_at = time.monotonic() + timeout * STOP_SHARE
                self._wake.notify()
            self._thread.join(timeout)

    def take_notices(self) -> list[str]:
        """Messages for the player since the last call (the database failed, ...)."""
        taken = []
        while self._notices:
            taken.append(self._notices.popleft())
        return taken

    # -- the bound, and what is said about it ----------------------------------------------

    def _bound(self) -> None:
        """Keep at most ``max_pending`` records waiting (the batch in flight included);
        drop the oldest beyond that and count them. Call holding ``_wake``."""
        while self._pending and len(self._pending) + self._in_flight > self.max_pending:
            self._pending.popleft()
            self.dropped += 1

    def _tell(self, message: str) -> None:
        log.warning(message.replace(self.shown, str(self.path)))
        self._notices.append(message)

    def _fail(self, error: BaseException) -> None:
        self.enabled = False
        with self._wake:
            self._pending.clear()
        self._tell(f"Feedback is not being recorded: {error}")

    def _waited_s(self) -> float:
        return time.monotonic() - self._busy_since if self._busy_since is not None else 0.0

    def _report_drops(self, why: str) -> None:
        """Say how many records were dropped since last said, and where they were going.

        Args:
            why: "dropping" (the first drops while the database stays locked), "resumed"
                (it could be written again) or "closing" (the game ends before it could).
        """
        new = self.dropped - self._dropped_told
        if new <= 0:
            return
        if why == "dropping":
            if not self._dropping_told:  # once per lock; the count comes when it ends
                self._dropping_told = True
                self._tell(
                    f"Feedback: {self.shown} has been locked for {self._waited_s():.0f} s (by "
                    f"another program, or its disk is full); at most {self.max_pending} "
                    "records wait in memory, so the oldest are being dropped. Recording "
                    "goes on."
                )
            return
        self._dropped_told += new
        self._dropping_told = False
        if why == "resumed":
            self._tell(
                f"Feedback is written to {self.shown} again; {new} records were dropped "
                f"while it could not be written ({self._waited_s():.0f} s)."
            )
        else:
            self._tell(
                f"Feedback: {new} records were dropped, not written to {self.shown}: it "
                f"could not be written when the game ended ({self._waited_s():.0f} s)."
            )

    # -- the writer thread ---------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection | None:
        """The database, or None while it is locked; a broken one stops recording."""
        try:
            return store.connect(self.path)
        except store.StoreBusy:
            return None
        except store.StoreError as error:
            self._fail(error)
            return None

    def _release_flushes(self) -> None:
        for event in self._flushes:
            event.set()
        self._flushes = []

    def _take(self, retry_at: float) -> list[tuple[Any, ...]] | None:
        """The next batch to write, once there is one and the retry time has come; None
        when the thread should stop. A burst arriving within ``flush_s`` is one batch."""
        with self._wake:
            while True:
                now = time.monotonic()
                if not self.enabled or not self._pending:
                    self._release_flushes()
                    if self._stop_at is not None:
                        return None
                    self._wake.wait()  # idle: sleep until something comes
                    continue
                if self._stop_at is not None and now >= self._stop_at:
                    return None
                if now < retry_at:
                    until = retry_at if self._stop_at is None else min(retry_at, self._stop_at)
                    self._wake.wait(until - now)
                    continue
                break
            deadline = now + self.flush_s
            while (
                len(self._pending) < self.batch_size and not self._flushes and self._stop_at is None
            ):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._wake.wait(remaining)
            batch = [
                self._pending.popleft() for _ in range(min(self.batch_size, len(self._pending)))
            ]
            self._in_flight = len(batch)
            return batch

    def _run(self) -> None:
        db = self._connect()
        backoff = RETRY_FIRST_S
        retry_at = 0.0
        while (batch := self._take(retry_at)) is not None:
            try:
                if db is None:
                    db = store.connect(self.path)
                if self._stop_at is not None:  # never wait on a lock past the caller's patience
                    left_ms = int(max(0.0, self._stop_at - time.monotonic()) * 1000)
                    db.execute(f"PRAGMA busy_timeout = {min(left_ms, store.BUSY_TIMEOUT_MS)}")
                self._write(db, batch)
            except Exception as error:  # noqa: BLE001 - recording must never stop the game
                with self._wake:
                    self._in_flight = 0
                if not store.is_busy(error):
                    self._fail(
                        error
                        if isinstance(error, store.StoreError)
                        else store.StoreError(f"{self.path}: {error}")
                    )
                    continue
                # Locked: the batch goes back at the head of the queue, to be tried again
                # later; the player hears of it only if records have to be dropped.
                self.retries += 1
                if self._busy_since is None:
                    self._busy_since = time.monotonic()
                retry_at = time.monotonic() + backoff
                backoff = min(backoff * 2, RETRY_MAX_S)
                with self._wake:
                    self._pending.extendleft(reversed(batch))
                    self._bound()
                self._report_drops("dropping")
                continue
            with self._wake:
                self._in_flight = 0
            backoff = RETRY_FIRST_S
            self._report_drops("resumed")
            self._busy_since = None
        with self._wake:
            if self.enabled and self._pending:
                self.dropped += len(self._pending)
                self._pending.clear()
            self._release_flushes()
        if self.enabled:
            self._report_drops("closing")
        if db is not None:
            db.close()

    def _write(self, db: sqlite3.Connection, batch: list[tuple[Any, ...]]) -> None:
        """One batch in one transaction; rolled back whole on any error, so a batch retried
        after a lock is written exactly once."""
        try:
            # Weights are hashed before the write lock is taken (a large model takes
            # seconds, and other games wait on the lock); their cache rows commit alone.
            for op in batch:
                if op[0] == "narration":
                    op[1].model_sha256 = self._model_hash(op[1], db)
            db.commit()
            db.execute("BEGIN IMMEDIATE")  # the write lock first, waiting its turn
            records = []
            for op in batch:
                if op[0] == "narration":
                    records.append(op[1])
                    continue
                # Signals may refer to narrations of this batch: insert those first.
                if records:
                    store.insert_narrations(db, records)
                    records = []
                if op[0] == "signal":
                    store.mark_signal(db, op[1], op[2])
                elif op[0] == "rate":
                    store.set_rating(db, op[1], op[2], op[3])
            if records:
                store.insert_narrations(db, records)
            db.commit()
        except BaseException:
            if db.in_transaction:
                db.rollback()
            raise
        self.written += len(batch)

    def _model_hash(self, record: store.NarrationRecord, db: sqlite3.Connection) -> str:
        if record.backend == "template" or record.model == "template":
            return TEMPLATE_SHA
        if not record.model_path:
            return ""  # a hub model: no directory of ours to hash
        try:
            return self._hashes.of_model(record.model_path, db)
        except OSError:
            return ""  # the directory went away: record the narration all the same
