"""The recorder: narrations and signals go on a queue, a thread writes them in batches.

The game's thread only builds a small record and puts it on a queue (microseconds); the
writer thread opens the database, hashes model weights (once per file, cached by size and
mtime), and commits everything waiting in one transaction. If the database cannot be
opened or written (corrupt, locked by another program, a full disk), the recorder says so
once through ``notices`` and stops recording; the game goes on.

Examples::

    recorder = Recorder()                  # the player's database
    narration_id = recorder.narration(model="textgamegen", kind="action", text="...")
    recorder.rate(narration_id, "good")
    recorder.close()
"""

from __future__ import annotations

import hashlib
import logging
import queue
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
    """

    def __init__(
        self, path: Path | None = None, *, batch_size: int = BATCH_SIZE, flush_s: float = FLUSH_S
    ) -> None:
        self.path = path or store.db_path()
        self.batch_size = batch_size
        self.flush_s = flush_s
        self.enabled = True
        self.written = 0
        """Operations committed so far (for tests and the bench)."""
        self._queue: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._notices: deque[str] = deque()
        self._hashes = WeightHashes()
        self._thread = threading.Thread(target=self._run, name="feedback-writer", daemon=True)
        self._thread.start()

    # -- the game's side: cheap, never raises ---------------------------------------------

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
        )
        self._queue.put(("narration", record))
        return narration_id

    def signal(self, narration_id: str, signal: str) -> None:
        """Mark a narration cancelled (Esc), retried or undone."""
        if self.enabled and signal in store.SIGNALS:
            self._queue.put(("signal", narration_id, signal))

    def rate(self, narration_id: str, rating: str) -> None:
        """Rate a narration good or bad (a later rating replaces an earlier one)."""
        if self.enabled and rating in store.RATINGS:
            self._queue.put(("rate", narration_id, rating, store.now_iso()))

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far is written (or dropped). True if done."""
        if not self._thread.is_alive():
            return True
        done = threading.Event()
        self._queue.put(("flush", done))
        return done.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued and stop the thread."""
        if self._thread.is_alive():
            self._queue.put(("stop",))
            self._thread.join(timeout)

    def take_notices(self) -> list[str]:
        """Messages for the player since the last call (the database failed, ...)."""
        taken = []
        while self._notices:
            taken.append(self._notices.popleft())
        return taken

    # -- the writer thread ---------------------------------------------------------------

    def _fail(self, error: BaseException) -> None:
        self.enabled = False
        message = f"Feedback is not being recorded: {error}"
        log.warning(message)
        self._notices.append(message)

    def _run(self) -> None:
        try:
            db: sqlite3.Connection | None = store.connect(self.path)
        except store.StoreError as error:
            self._fail(error)
            db = None
        stopping = False
        while not stopping:
            # Idle, the thread sleeps on the queue; once a record comes, it gathers what
            # follows for up to flush_s, so a burst of records is one transaction.
            batch = [self._queue.get()]
            deadline = time.monotonic() + self.flush_s
            while len(batch) < self.batch_size and batch[-1][0] not in ("flush", "stop"):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batch.append(self._queue.get(timeout=remaining))
                except queue.Empty:
                    break
            waiting = [op[1] for op in batch if op[0] == "flush"]
            stopping = any(op[0] == "stop" for op in batch)
            if db is not None and self.enabled:
                try:
                    self._write(db, [op for op in batch if op[0] not in ("flush", "stop")])
                except Exception as error:  # noqa: BLE001 - recording must never stop the game
                    self._fail(store.StoreError(f"{self.path}: {error}"))
            for event in waiting:
                event.set()
        if db is not None:
            db.close()

    def _write(self, db: sqlite3.Connection, batch: list[tuple[Any, ...]]) -> None:
        if not batch:
            return
        with db:  # one transaction per batch
            records = []
            for op in batch:
                if op[0] == "narration":
                    record = op[1]
                    record.model_sha256 = self._model_hash(record, db)
                    records.append(record)
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
