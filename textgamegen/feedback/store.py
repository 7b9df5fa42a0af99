"""The feedback database: one SQLite file in the user data folder, in WAL mode.

The schema grows by migrations, an ordered list of small functions; the ones applied are
recorded in the ``migrations`` table and the count is the schema version
(``PRAGMA user_version``). A database written by a newer game (a higher version than this
game knows) is refused rather than guessed at.

WAL with ``synchronous=NORMAL`` keeps every committed batch through a crash of the game
(kill -9): only a power cut can lose the last batches, never corrupt the file. Several
games may write at once: a write waits ``BUSY_TIMEOUT_MS`` for another's lock, and a lock
held longer is a ``StoreBusy`` that the recorder retries (``is_busy``).

Readers (``monitor``, ``feedback stats|export``) open the file read-only with SQLite's
``mode=ro`` (``connect_readonly``), so a database they may not write (a read-only file or
folder) is still read, and reading never migrates, creates or locks anything.

Examples::

    with open_store() as connection:
        rows = narrations(connection, model="textgamegen", since="2026-11-01")
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from textgamegen import paths

DB_NAME = "feedback.db"
BUSY_TIMEOUT_MS = 1000
"""How long a write waits for another process's lock before it is retried later (only the
recorder's thread ever waits on the database, never the game's)."""


class StoreError(RuntimeError):
    """The database cannot be opened or used; the message names the file."""


class StoreBusy(StoreError):
    """The database is locked by another connection (or its disk is full) for longer than
    the busy timeout: the same write may succeed later."""


def is_busy(error: BaseException) -> bool:
    """Whether an SQLite error is passing (another connection's lock, a full disk), so the
    write is worth retrying, rather than a fault of the file (corrupt, read-only, ...)."""
    if isinstance(error, StoreBusy):
        return True
    if not isinstance(error, sqlite3.OperationalError):
        return False
    text = str(error).lower()
    return "locked" in text or "busy" in text or "disk is full" in text


def db_path() -> Path:
    """The feedback database (``TEXTGAMEGEN_FEEDBACK_DB`` overrides it)."""
    value = os.environ.get("TEXTGAMEGEN_FEEDBACK_DB")
    return Path(value).expanduser() if value else paths.user_data_dir() / DB_NAME


def now_iso() -> str:
    """UTC time with milliseconds, sortable as text."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _create_narrations(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE narrations (
            id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            session TEXT NOT NULL DEFAULT '',
            world TEXT NOT NULL DEFAULT '',
            turn INTEGER NOT NULL DEFAULT 0,
            model TEXT NOT NULL,
            model_sha256 TEXT NOT NULL DEFAULT '',
            model_path TEXT NOT NULL DEFAULT '',
            backend TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL,
            prompt TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL,
            first_token_ms REAL,
            total_ms REAL,
            tokens INTEGER,
            fallback INTEGER NOT NULL DEFAULT 0,
            cancelled INTEGER NOT NULL DEFAULT 0,
            retried INTEGER NOT NULL DEFAULT 0,
            undone INTEGER NOT NULL DEFAULT 0,
            rating TEXT CHECK (rating IN ('good', 'bad')),
            rated_at TEXT
        )"""
    )
    db.execute("CREATE INDEX narrations_created ON narrations (created_at)")


def _create_weights(db: sqlite3.Connection) -> None:
    # sha256 of a model's weights, keyed by file and checked by size and mtime, so a
    # model directory is hashed once, not at every start of the game.
    db.execute(
        """CREATE TABLE weights (
            path TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            sha256 TEXT NOT NULL
        )"""
    )


def _index_models(db: sqlite3.Connection) -> None:
    db.execute("CREATE INDEX narrations_model ON narrations (model, created_at)")


def _mark_scripts_and_versions(db: sqlite3.Connection) -> None:
    # A scripted run (testers, CI) is no player's word; the model's registered version
    # tells retrains of one name apart ("" until the registry gives one).
    db.execute("ALTER TABLE narrations ADD COLUMN scripted INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE narrations ADD COLUMN model_version TEXT NOT NULL DEFAULT ''")


MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = [
    ("create narrations", _create_narrations),
    ("create weights", _create_weights),
    ("index narrations by model", _index_models),
    ("mark scripted runs and model versions", _mark_scripts_and_versions),
]
"""Applied in order, each once; append new ones, never edit or reorder old ones."""

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: sqlite3.Connection) -> int:
    """Apply the migrations this database lacks; returns the schema version.

    Raises:
        StoreError: the database comes from a newer game.
    """
    db.execute(
        "CREATE TABLE IF NOT EXISTS migrations "
        "(id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    applied = {row[0] for row in db.execute("SELECT id FROM migrations")}
    newest = max(applied, default=0)
    if newest > SCHEMA_VERSION:
        raise StoreError(
            f"schema version {newest} is newer than this game's {SCHEMA_VERSION}; "
            "update TextGameGen to record feedback here"
        )
    for number, (name, step) in enumerate(MIGRATIONS, start=1):
        if number in applied:
            continue
        with db:  # one transaction per migration: a crash leaves it applied or not at all
            step(db)
            db.execute(
                "INSERT INTO migrations (id, name, applied_at) VALUES (?, ?, ?)",
                (number, name, now_iso()),
            )
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return SCHEMA_VERSION


def connect(path: Path | None = None, *, create: bool = True) -> sqlite3.Connection:
    """Open (and, with ``create``, make) the database, in WAL mode, migrated.

    Raises:
        StoreError: missing (when not ``create``), not a database, locked, or from a
            newer game; the message names the file.
    """
    path = path or db_path()
    if not create and not path.is_file():
        raise StoreError(f"{path}: no feedback recorded yet (the file does not exist)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    except (OSError, sqlite3.Error) as error:
        raise StoreError(f"{path}: cannot open: {error}") from None
    try:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        migrate(db)
    except sqlite3.Error as error:
        db.close()
        kind = StoreBusy if is_busy(error) else StoreError
        raise kind(f"{path}: {error}") from None
    except StoreError as error:
        db.close()
        raise StoreError(f"{path}: {error}") from None
    db.row_factory = sqlite3.Row
    return db


def connect_readonly(path: Path | None = None) -> sqlite3.Connection:
    """Open the database read-only (SQLite's ``mode=ro``): nothing is created, migrated or
    written, so a file or folder the reader may not write is read all the same.

    A read-only WAL database needs its ``-shm`` index; when that cannot be made either (a
    read-only folder), the file is opened ``immutable``, which is safe because nothing can
    be writing to a file nobody may write.

    Raises:
        StoreError: missing, not a feedback database, or from a newer game; the message
            names the file.
    """
    path = path or db_path()
    if not path.is_file():
        raise StoreError(f"{path}: no feedback recorded yet (the file does not exist)")
    uri = path.resolve().as_uri()
    first: sqlite3.Error | None = None
    for options in ("mode=ro", "mode=ro&immutable=1"):
        db: sqlite3.Connection | None = None
        try:
            db = sqlite3.connect(
                f"{uri}?{options}",
                uri=True,
                timeout=BUSY_TIMEOUT_MS / 1000,
                check_same_thread=False,
            )
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            _check_readable(db)
        except sqlite3.OperationalError as error:
            if db is not None:
                db.close()
            if is_busy(error):
                raise StoreBusy(f"{path}: {error}") from None
            first = first or error
            continue
        except sqlite3.Error as error:
            if db is not None:
                db.close()
            raise StoreError(f"{path}: {error}") from None
        except StoreError as error:
            if db is not None:
                db.close()
            raise StoreError(f"{path}: {error}") from None
        db.row_factory = sqlite3.Row
        return db
    raise StoreError(f"{path}: cannot open read-only: {first}")


def _check_readable(db: sqlite3.Connection) -> None:
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "narrations" not in tables:
        raise StoreError("not a feedback database (it has no narrations table)")
    if "migrations" in tables:
        newest = db.execute("SELECT max(id) FROM migrations").fetchone()[0] or 0
        if newest > SCHEMA_VERSION:
            raise StoreError(
                f"schema version {newest} is newer than this game's {SCHEMA_VERSION}; "
                "update TextGameGen to read the feedback here"
            )


@contextmanager
def open_store(
    path: Path | None = None, *, create: bool = False, readonly: bool = False
) -> Iterator[sqlite3.Connection]:
    """``connect`` (or, with ``readonly``, ``connect_readonly``) as a context manager that
    closes the connection."""
    db = connect_readonly(path) if readonly else connect(path, create=create)
    try:
        yield db
    finally:
        db.close()


@dataclass
class NarrationRecord:
    """One narration shown to the player, as recorded."""

    id: str
    created_at: str
    model: str
    kind: str
    text: str
    prompt: str = ""
    session: str = ""
    world: str = ""
    turn: int = 0
    model_sha256: str = ""
    model_path: str = ""
    backend: str = ""
    first_token_ms: float | None = None
    total_ms: float | None = None
    tokens: int | None = None
    fallback: bool = False
    cancelled: bool = False
    scripted: bool = False
    model_version: str = ""

    def row(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["fallback"] = int(self.fallback)
        data["cancelled"] = int(self.cancelled)
        data["scripted"] = int(self.scripted)
        return data


NARRATION_COLUMNS = tuple(NarrationRecord.__dataclass_fields__)
SIGNALS = ("cancelled", "retried", "undone")
RATINGS = ("good", "bad")


def insert_narrations(db: sqlite3.Connection, records: list[NarrationRecord]) -> None:
    columns = ", ".join(NARRATION_COLUMNS)
    marks = ", ".join(f":{name}" for name in NARRATION_COLUMNS)
    db.executemany(
        f"INSERT OR IGNORE INTO narrations ({columns}) VALUES ({marks})",
        [record.row() for record in records],
    )


def mark_signal(db: sqlite3.Connection, narration_id: str, signal: str) -> None:
    if signal not in SIGNALS:
        raise ValueError(f"unknown signal {signal!r}")
    db.execute(f"UPDATE narrations SET {signal} = 1 WHERE id = ?", (narration_id,))


def set_rating(db: sqlite3.Connection, narration_id: str, rating: str, when: str) -> None:
    if rating not in RATINGS:
        raise ValueError(f"rating must be good or bad, not {rating!r}")
    db.execute(
        "UPDATE narrations SET rating = ?, rated_at = ? WHERE id = ?", (rating, when, narration_id)
    )


def narrations(
    db: sqlite3.Connection,
    *,
    model: str | None = None,
    since: str | None = None,
    version: str | None = None,
) -> list[dict[str, Any]]:
    """Recorded narrations, oldest first, optionally of one model, from a time on, and of
    one version of it: its registered version, or its weights' sha256 (or a prefix of
    it), which every record holds even where no version was recorded."""
    query = "SELECT * FROM narrations WHERE 1 = 1"
    args: list[Any] = []
    if model:
        query += " AND model = ?"
        args.append(model)
    if version:
        columns = {row[1] for row in db.execute("PRAGMA table_info(narrations)")}
        # A database not migrated yet (opened read-only) records no version: by weights.
        by_version = "model_version = ? OR " if "model_version" in columns else ""
        query += f" AND ({by_version}substr(model_sha256, 1, ?) = ?)"
        args += [version] * bool(by_version) + [len(version), version]
    if since:
        query += " AND created_at >= ?"
        args.append(since)
    query += " ORDER BY created_at, rowid"
    return [dict(row) for row in db.execute(query, args)]


def label(row: dict[str, Any]) -> str:
    """What the player's behaviour says about a narration, strongest signal first.

    An explicit rating wins; then ``retried`` (the player asked for another text),
    ``cancelled`` (stopped with Esc, so cut short), ``undone`` (the turn was taken back),
    ``fallback`` (the model gave nothing usable; the text is the engine's); else ``kept``:
    shown and let stand, which is no approval. Only ``good`` and ``bad`` are the player's
    judgement; a retraining config takes ``kept`` lines only when it names them.
    """
    if row.get("rating") in RATINGS:
        return str(row["rating"])
    for name in ("retried", "cancelled", "undone", "fallback"):
        if row.get(name):
            return name
    return "kept"


def clear(db: sqlite3.Connection, *, model: str | None = None) -> int:
    """Delete recorded narrations (all, or one model's); returns how many."""
    with db:
        if model:
            cursor = db.execute("DELETE FROM narrations WHERE model = ?", (model,))
        else:
            cursor = db.execute("DELETE FROM narrations")
    return cursor.rowcount
