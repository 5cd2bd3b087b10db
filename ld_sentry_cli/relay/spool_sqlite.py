"""The embedded spool: one SQLite file in WAL mode, for one relay (the default).

Every accepted event is committed before the 2xx (`synchronous=FULL`: durable against power
loss too); the relay groups concurrent webhooks into one commit, so this costs one fsync per group
(BENCHMARKS.md). One relay per file: `relay serve` holds an exclusive lock on `<spool>.lock`, and
a second one is refused (several relays share a PostgreSQL spool instead, spool_postgres.py).
`relay status`, `retry-dead-letters` and `backfill` open the file alongside a running relay.

The file holds LaunchDarkly context keys (user identifiers): it and its `-wal` and `-shm` are
mode 0600 whenever the spool opens them. The WAL is checkpointed off the writer's thread and
restarted once it passes `wal_limit`, so it stays bounded under steady load (issue 13).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from ld_sentry_cli.relay import spool_rows
from ld_sentry_cli.relay.model import (
    Batch,
    BatchEvent,
    DeadLetter,
    Destination,
    ParkedEvent,
    SpoolEntry,
    SpoolStats,
    compact_json,
)
from ld_sentry_cli.relay.spool import (
    PRUNE_CHUNK,
    RESPONSE_LIMIT,
    DuePlan,
    SpoolError,
    SpoolUnavailable,
)

if sys.platform != "win32":
    import fcntl

SCHEMA_VERSION = 1
# The WAL is restarted (and truncated to this size) once it grows past it: without a restart, a
# checkpoint that runs beside a busy writer never catches up and the log grows without bound.
WAL_LIMIT_BYTES = 64 * 1024 * 1024
# Readiness fails below this much free space, so a load balancer turns to another relay before
# writes start failing (each webhook group needs a few kilobytes; a checkpoint needs more).
MIN_FREE_BYTES = 8 * 1024 * 1024
DAMAGED_HINT = (
    "The file is damaged (truncated or overwritten): move it aside and start the relay on a new spool; "
    "events it held and had not forwarded are lost."
)
_SQLITE_MAGIC = b"SQLite format 3\x00"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS destinations (
    id INTEGER PRIMARY KEY,
    ld_project TEXT NOT NULL,
    ld_environment TEXT NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0,
    UNIQUE (ld_project, ld_environment)
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    destination INTEGER REFERENCES destinations (id),
    batch_id TEXT,
    payload TEXT,
    received_at REAL NOT NULL,
    done_at REAL,
    sentry_project_id TEXT,
    sentry_environment TEXT
);
CREATE INDEX IF NOT EXISTS events_queued ON events (destination, seq) WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS events_batch ON events (batch_id, seq) WHERE batch_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_dead ON events (destination) WHERE state = 'dead';
CREATE INDEX IF NOT EXISTS events_unresolved ON events (seq) WHERE state = 'unresolved';
CREATE INDEX IF NOT EXISTS events_done ON events (done_at) WHERE state IN ('delivered', 'skipped');
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY,
    destination INTEGER NOT NULL UNIQUE REFERENCES destinations (id),
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS dead_letters (
    batch_id TEXT PRIMARY KEY,
    destination INTEGER NOT NULL REFERENCES destinations (id),
    events INTEGER NOT NULL,
    status INTEGER,
    response TEXT NOT NULL,
    failed_at REAL NOT NULL
);
"""

# One statement inserts a whole group, given as a JSON array of rows (JSON1, built into SQLite),
# and RETURNING names exactly the rows it inserted: the verdict of each event, with no guessing.
_INSERT_ALL = (
    f"INSERT OR IGNORE INTO events ({', '.join(spool_rows.EVENT_COLUMNS)}) SELECT "  # noqa: S608 (constants only)
    + ", ".join(f"json_extract(value, '$[{index}]')" for index in range(len(spool_rows.EVENT_COLUMNS)))
    + " FROM json_each(?) RETURNING event_id"
)


def _connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    else:
        connection = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    # Another process (`relay backfill`, `relay retry-dead-letters`) may hold the write lock briefly.
    connection.execute("PRAGMA busy_timeout = 5000")
    return connection


class SqliteSpool:
    """The embedded spool (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "FULL",
        exclusive: bool = False,
        wal_limit: int = WAL_LIMIT_BYTES,
        min_free: int = MIN_FREE_BYTES,
    ) -> None:
        self.path = path
        self.thread_safe = False  # one connection, used from the relay's spool thread
        self.min_free = min_free
        self.location = str(path)
        self._synchronous = synchronous
        self._wal_limit = wal_limit
        self._lock: int | None = self._take_lock(path) if exclusive else None
        try:
            self._db = self._open(path, synchronous, wal_limit)
            self._identity = _file_identity(path)
            # Our own descriptor of the file we opened: reading its header is one pread, and it keeps
            # reading the original file even if the path is replaced.
            self._fd: int | None = os.open(path, os.O_RDONLY)
            self._known = spool_rows.DestinationIds()
            self._load_destinations()
        except sqlite3.DatabaseError as err:
            self._release_lock()
            raise SpoolError(
                f"Cannot use {path} as the relay spool: {err}.",
                "Pass --spool with a writable path, or set [relay] spool in the configuration; a damaged spool "
                "is best moved aside (its undelivered events are lost) so that the relay starts a new one.",
            ) from None
        self._checkpointer: sqlite3.Connection | None = None

    @staticmethod
    def _take_lock(path: Path) -> int | None:
        """Hold `<spool>.lock` exclusively for the life of the relay: one relay per SQLite spool."""
        if sys.platform == "win32":
            return None
        lock_path = path.with_name(path.name + ".lock")
        if path.parent != Path() and not path.parent.exists():
            return None  # _open reports the missing folder
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            by = f" (process {holder})" if holder.isdigit() else ""
            raise SpoolError(
                f"Another relay is using the spool {path}{by}: an SQLite spool serves one relay.",
                "Stop the other relay, or give this one its own --spool. Several relays behind a load balancer "
                "share a PostgreSQL spool: --spool postgresql://USER@HOST:PORT/DB (docs/relay.md).",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        return fd

    def _release_lock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the flock
            self._lock = None

    @staticmethod
    def _open(path: Path, synchronous: str, wal_limit: int) -> sqlite3.Connection:
        if path.parent != Path() and not path.parent.exists():
            raise sqlite3.OperationalError(f"the folder {path.parent} does not exist")
        if path.is_file() and path.stat().st_size and _header(path) != _SQLITE_MAGIC:
            raise sqlite3.DatabaseError("it is not an SQLite database (damaged or overwritten)")
        # The spool holds LaunchDarkly context keys (user identifiers): readable by its owner only.
        old_umask = os.umask(0o077)
        try:
            db = _connect(path)
            db.execute("PRAGMA journal_mode = WAL")
        finally:
            os.umask(old_umask)
        _make_private(path)
        db.execute(f"PRAGMA synchronous = {synchronous}")
        # Checkpoints run from checkpoint() on another connection and thread, not inside a commit:
        # an automatic one copies and fsyncs the database file while webhooks wait (BENCHMARKS.md).
        db.execute("PRAGMA wal_autocheckpoint = 0")
        # When the log restarts, the file is cut back to this size rather than kept at its peak.
        db.execute(f"PRAGMA journal_size_limit = {int(wal_limit)}")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise sqlite3.DatabaseError(f"schema version {version} is newer than this ldsentry understands")
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if version == 0 and tables - {"sqlite_sequence"}:
            raise sqlite3.DatabaseError("it is an SQLite file of something else")
        db.executescript(_SCHEMA)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        # Pages into the database file now: a spool file that is empty later was truncated, not new.
        db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        return db

    def _verify_file(self) -> None:
        """Raise SpoolUnavailable unless the path still names the file this spool writes (cheap: one stat)."""
        try:
            identity = _file_identity(self.path)
        except OSError:
            raise SpoolUnavailable(f"the spool file {self.path} was deleted while the relay ran") from None
        if identity[:2] != self._identity[:2]:
            raise SpoolUnavailable(f"the spool file {self.path} was replaced while the relay ran")
        if identity[2] == 0 or self._fd is None or os.pread(self._fd, len(_SQLITE_MAGIC), 0) != _SQLITE_MAGIC:
            raise SpoolUnavailable(f"the spool file {self.path} was truncated or overwritten while the relay ran")

    def _load_destinations(self) -> None:
        self._known.load(self._db.execute("SELECT id, ld_project, ld_environment FROM destinations"))

    def _destination_id(self, destination: Destination) -> int:
        ident = self._known.id_of(destination)
        if ident is None:
            self._db.execute(
                "INSERT OR IGNORE INTO destinations (ld_project, ld_environment) VALUES (?, ?)",
                (destination.ld_project, destination.ld_environment),
            )
            ident = self._db.execute(
                "SELECT id FROM destinations WHERE ld_project = ? AND ld_environment = ?",
                (destination.ld_project, destination.ld_environment),
            ).fetchone()[0]
            self._known.remember(ident, destination)
        return ident

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            # A failed transaction may have cached destination ids that were rolled back.
            self._known.clear()
            self._load_destinations()
            raise
        self._db.execute("COMMIT")

    def add(self, entries: Sequence[SpoolEntry]) -> list[bool]:
        """Store entries in one transaction; True for each new event id, False for a duplicate."""
        rows = [
            spool_rows.event_row(e, None if e.destination is None else self._destination_id(e.destination))
            for e in spool_rows.first_of_each(entries)
        ]
        self._verify_file()  # never acknowledge an event written to a deleted or replaced file
        # The whole group is ONE statement, committed on its own (autocommit): the spool thread
        # must win the GIL back from the busy event loop after every SQLite call, which costs up to
        # a switch interval (5 ms) each time, so calls per group matter more than work per call.
        new = {row[0] for row in self._db.execute(_INSERT_ALL, (compact_json(rows),))}
        return spool_rows.verdicts(entries, new)

    def seen(self, event_ids: Sequence[str]) -> set[str]:
        """The ids among event_ids that the spool holds or held (within the retention)."""
        found: set[str] = set()
        ids = list(event_ids)
        for start in range(0, len(ids), 500):  # stay far below SQLite's bound-parameter limit
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT event_id FROM events WHERE event_id IN ({marks})"  # noqa: S608 (placeholders only)
            found.update(row[0] for row in self._db.execute(query, chunk))
        return found

    def _due_at(
        self, ident: int, now: float, batch_size: int, flush_interval: float, flush_all: bool
    ) -> tuple[float | None, tuple[str, int, float] | None]:
        """When the destination's next batch is due (None: nothing to send), and its open batch if any."""
        open_batch = self._db.execute(
            "SELECT batch_id, attempts, next_attempt_at FROM batches WHERE destination = ?", (ident,)
        ).fetchone()
        if open_batch is not None:
            return float(open_batch[2]), (open_batch[0], int(open_batch[1]), float(open_batch[2]))
        first = self._db.execute(
            "SELECT received_at FROM events WHERE destination = ? AND state = 'queued' ORDER BY seq LIMIT 1", (ident,)
        ).fetchone()
        if first is None:
            return None, None
        if flush_all:
            return now, None  # whatever the count: no need to count
        count = self._db.execute(
            "SELECT count(*) FROM (SELECT 1 FROM events WHERE destination = ? AND state = 'queued' "
            "ORDER BY seq LIMIT ?)",
            (ident, batch_size),
        ).fetchone()[0]
        return spool_rows.queued_due_at(
            now, float(first[0]), count, batch_size=batch_size, flush_interval=flush_interval, flush_all=flush_all
        ), None

    def due(self, now: float, batch_size: int, flush_interval: float, flush_all: bool = False) -> DuePlan:
        """Destinations whose next batch is due, and when the next one falls due."""
        # Other processes (backfill) may have added destinations since we last looked.
        self._load_destinations()
        return spool_rows.plan_due(
            now,
            (
                (destination, self._due_at(ident, now, batch_size, flush_interval, flush_all)[0])
                for ident, destination in self._known.by_id()
            ),
        )

    def claim(
        self, destination: Destination, now: float, batch_size: int, flush_interval: float, flush_all: bool = False
    ) -> Batch | None:
        """The destination's batch to send now: its unfinished batch (same id) first, else a new one."""
        ident = self._known.id_of(destination)
        if ident is None:
            return None
        due_at, open_batch = self._due_at(ident, now, batch_size, flush_interval, flush_all)
        if due_at is None or due_at > now:
            return None
        if open_batch is not None:
            batch_id, attempts, _ = open_batch
            rows = self._db.execute(
                "SELECT event_id, payload, received_at FROM events WHERE batch_id = ? AND state = 'sending' "
                "ORDER BY seq",
                (batch_id,),
            ).fetchall()
            if rows:
                return Batch(batch_id, destination, attempts, tuple(BatchEvent(*row) for row in rows))
            self._db.execute("DELETE FROM batches WHERE batch_id = ?", (batch_id,))  # emptied by hand: forget it
        with self._transaction() as db:
            rows = db.execute(
                "SELECT seq, event_id, payload, received_at FROM events WHERE destination = ? AND state = 'queued' "
                "ORDER BY seq LIMIT ?",
                (ident, batch_size),
            ).fetchall()
            if not rows:
                return None
            batch_id = str(uuid.uuid4())
            db.execute(
                "INSERT INTO batches (batch_id, destination, created_at, next_attempt_at) VALUES (?, ?, ?, ?)",
                (batch_id, ident, now, now),
            )
            # The rows are the first `batch_size` queued by seq, and only this thread writes.
            db.execute(
                "UPDATE events SET state = 'sending', batch_id = ? WHERE destination = ? AND state = 'queued' "
                "AND seq <= ?",
                (batch_id, ident, rows[-1][0]),
            )
        return Batch(batch_id, destination, 0, tuple(BatchEvent(*row[1:]) for row in rows))

    def _batch_destination(self, db: sqlite3.Connection, batch_id: str) -> int | None:
        row = db.execute("SELECT destination FROM batches WHERE batch_id = ?", (batch_id,)).fetchone()
        return None if row is None else int(row[0])

    def delivered(self, batch_id: str, now: float) -> int:
        """Mark a batch delivered; return its event count."""
        with self._transaction() as db:
            ident = self._batch_destination(db, batch_id)
            count = db.execute(
                "UPDATE events SET state = 'delivered', payload = NULL, batch_id = NULL, done_at = ? "
                "WHERE batch_id = ? AND state = 'sending'",
                (now, batch_id),
            ).rowcount
            if ident is not None:
                db.execute("UPDATE destinations SET delivered = delivered + ? WHERE id = ?", (count, ident))
            db.execute("DELETE FROM batches WHERE batch_id = ?", (batch_id,))
        return count

    def retry_later(self, batch_id: str, attempts: int, next_attempt_at: float, error: str) -> None:
        """Record a failed attempt; the same batch is sent again at next_attempt_at."""
        with self._transaction() as db:
            db.execute(
                "UPDATE batches SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE batch_id = ?",
                (attempts, next_attempt_at, error[:RESPONSE_LIMIT], batch_id),
            )

    def dead_letter(self, batch_id: str, status: int | None, response: str, now: float) -> int:
        """Move a batch to the dead letters with LaunchDarkly's answer; return its event count."""
        with self._transaction() as db:
            ident = self._batch_destination(db, batch_id)
            count = db.execute(
                "UPDATE events SET state = 'dead', done_at = ? WHERE batch_id = ? AND state = 'sending'",
                (now, batch_id),
            ).rowcount
            if ident is not None:
                db.execute(
                    "INSERT OR REPLACE INTO dead_letters (batch_id, destination, events, status, response, failed_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (batch_id, ident, count, status, response[:RESPONSE_LIMIT], now),
                )
            db.execute("DELETE FROM batches WHERE batch_id = ?", (batch_id,))
        return count

    def requeue_dead_letters(self) -> int:
        """Put every dead-lettered event back in its queue; return how many."""
        with self._transaction() as db:
            count = db.execute(
                "UPDATE events SET state = 'queued', batch_id = NULL, done_at = NULL WHERE state = 'dead'"
            ).rowcount
            db.execute("DELETE FROM dead_letters")
        return count

    def parked(self, limit: int) -> list[ParkedEvent]:
        """Events waiting for their Sentry project to be resolved, oldest first."""
        rows = self._db.execute(
            "SELECT event_id, sentry_project_id, sentry_environment FROM events WHERE state = 'unresolved' "
            "ORDER BY seq LIMIT ?",
            (limit,),
        ).fetchall()
        return spool_rows.parked_events(rows)

    def resolve(self, assignments: Mapping[str, Destination | None], now: float) -> None:
        """Queue parked events for their destination, or drop them (None: unmapped) keeping the id."""
        with self._transaction() as db:
            for event_id, destination in assignments.items():
                if destination is None:
                    db.execute(
                        "UPDATE events SET state = 'skipped', payload = NULL, done_at = ? "
                        "WHERE event_id = ? AND state = 'unresolved'",
                        (now, event_id),
                    )
                else:
                    db.execute(
                        "UPDATE events SET state = 'queued', destination = ? "
                        "WHERE event_id = ? AND state = 'unresolved'",
                        (self._destination_id(destination), event_id),
                    )

    def prune(self, before: float, limit: int = PRUNE_CHUNK) -> int:
        """Forget at most limit delivered and skipped ids older than before; return how many."""
        with self._transaction() as db:
            return db.execute(
                "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE state IN ('delivered', 'skipped') "
                "AND done_at < ? LIMIT ?)",
                (before, limit),
            ).rowcount

    def stats(self) -> SpoolStats:
        """Counts per destination, read on a connection of its own."""
        db = _connect(self.path, readonly=True)
        try:
            return read_stats(db)
        finally:
            db.close()

    def dead_letters(self) -> list[DeadLetter]:
        """The dead-lettered batches, oldest first, read on a connection of its own."""
        db = _connect(self.path, readonly=True)
        try:
            return read_dead_letters(db)
        finally:
            db.close()

    def check_writable(self) -> None:
        """Raise SpoolUnavailable unless the path is still this spool's file, intact, and a real write commits."""
        self._verify_file()
        try:
            if sys.platform != "win32":
                disk = os.statvfs(self.path.parent.resolve())
                free = disk.f_bavail * disk.f_frsize
                if free < self.min_free:
                    raise SpoolUnavailable(f"the disk holding the spool {self.path} is full ({free // 1024} KiB free)")
            with self._transaction() as db:
                # A real write (WAL append and fsync at commit): a full disk or a read-only file fails here.
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('ready_check', ?)", (uuid.uuid4().hex,))
        except (OSError, sqlite3.Error) as err:
            raise SpoolUnavailable(f"the spool {self.path} cannot be written: {err}") from None

    def checkpoint(self) -> None:
        """Copy committed pages into the database file without blocking the writer; restart a WAL grown too big.

        A PASSIVE checkpoint beside a busy writer never catches up, and the log only restarts after
        one that did: once the WAL passes the limit, a RESTART checkpoint (which briefly makes the
        writer wait, for the few pages written since the passive one) lets the next commit start
        the log again, and journal_size_limit cuts the file back.
        """
        if self._checkpointer is None:
            self._checkpointer = _connect(self.path)
            self._checkpointer.execute(f"PRAGMA synchronous = {self._synchronous}")
            self._checkpointer.execute(f"PRAGMA journal_size_limit = {int(self._wal_limit)}")
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        if self.wal_size() > self._wal_limit:
            self._checkpointer.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
        _make_private(self.path)  # SQLite may have created a new -wal or -shm

    def wal_size(self) -> int:
        """Bytes in the `-wal` file (0 when there is none)."""
        try:
            return self.path.with_name(self.path.name + "-wal").stat().st_size
        except OSError:
            return 0

    def close(self) -> None:
        """Close the connections (the WAL is checkpointed by SQLite on the last close) and release the lock."""
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        self._db.close()
        if self._fd is not None:
            os.close(self._fd)  # after SQLite's own descriptors: closing one drops the process's POSIX locks
            self._fd = None
        self._release_lock()


def _header(path: Path) -> bytes:
    with path.open("rb") as stream:
        return stream.read(len(_SQLITE_MAGIC))


def _file_identity(path: Path) -> tuple[int, int, int]:
    """Device, inode and size of the file at path (OSError when there is none)."""
    info = path.stat()
    return info.st_dev, info.st_ino, info.st_size


def _make_private(path: Path) -> None:
    """Mode 0600 on the spool and its -wal and -shm, whoever created them and with whatever umask."""
    for name in (path.name, path.name + "-wal", path.name + "-shm"):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(name).chmod(0o600)


def open_spool_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection to an existing spool, for `relay status`; SpoolError if there is none."""
    if not path.is_file():
        raise SpoolError(
            f"No relay spool at {path}.",
            "Pass --spool with the path `ldsentry relay serve` uses, or set [relay] spool in the configuration.",
        )
    try:
        db = _connect(path, readonly=True)
        version = db.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as err:
        raise SpoolError(f"Cannot read {path} as the relay spool: {err}.", DAMAGED_HINT) from None
    if version != SCHEMA_VERSION:
        db.close()
        raise SpoolError(f"{path} is not an ldsentry relay spool (schema version {version}).")
    return db


def read_stats(db: sqlite3.Connection) -> SpoolStats:
    """Per-destination counts from a spool connection."""
    rows = []
    destinations = db.execute(
        "SELECT id, ld_project, ld_environment, delivered FROM destinations ORDER BY id"
    ).fetchall()
    for ident, project, environment, delivered in destinations:
        # Each query matches a partial index's condition exactly, so none scans delivered events.
        queued, oldest = db.execute(
            "SELECT count(*), min(received_at) FROM events WHERE destination = ? AND state = 'queued'", (ident,)
        ).fetchone()
        batch = db.execute(
            "SELECT batch_id, attempts, next_attempt_at, last_error FROM batches WHERE destination = ?", (ident,)
        ).fetchone()
        sending, oldest_sending = (0, None)
        if batch is not None:
            sending, oldest_sending = db.execute(
                "SELECT count(*), min(received_at) FROM events WHERE batch_id = ? AND state = 'sending'", (batch[0],)
            ).fetchone()
        dead = db.execute("SELECT count(*) FROM events WHERE destination = ? AND state = 'dead'", (ident,)).fetchone()
        open_batch = batch[1:] if batch is not None else (None, None, None)  # attempts, next_attempt_at, last_error
        rows.append((project, environment, delivered, queued, oldest, sending, oldest_sending, dead[0], *open_batch))
    unresolved = db.execute("SELECT count(*), min(received_at) FROM events WHERE state = 'unresolved'").fetchone()
    return spool_rows.spool_stats(rows, unresolved)


def read_dead_letters(db: sqlite3.Connection) -> list[DeadLetter]:
    """The dead-lettered batches from a spool connection."""
    return spool_rows.dead_letters_of(
        db.execute(
            "SELECT d.batch_id, t.ld_project, t.ld_environment, d.events, d.status, d.response, d.failed_at "
            "FROM dead_letters AS d JOIN destinations AS t ON t.id = d.destination ORDER BY d.failed_at"
        ).fetchall()
    )
