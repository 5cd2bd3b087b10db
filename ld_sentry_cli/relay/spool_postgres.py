"""The shared spool: one PostgreSQL database behind several relays (docs/relay.md, "Several relays").

Same tables and states as the SQLite spool, with what sharing needs:

- Intake: `INSERT … ON CONFLICT (event_id) DO NOTHING RETURNING event_id` gives the exact verdict
  of every event of a group, so a Sentry retry that lands on another relay is a duplicate there too.
- Forwarding: one open batch per LaunchDarkly project/environment (a unique key). A relay claims it
  in a short transaction that locks the destination's row with `FOR NO KEY UPDATE SKIP LOCKED`
  (a relay claiming at the same moment skips it; intake is not blocked) and takes a lease
  (`lease_owner`, `lease_until`). The batch keeps the id it got when first claimed, which is its
  `X-LaunchDarkly-Payload-ID`: when a relay dies holding a lease, another one takes the batch over
  once the lease expires and sends the same events under the same id. A failed attempt releases
  the lease, so any relay sends the retry. Leases compare the relays' clocks: keep them in sync (NTP).
- The schema is created on first start under an advisory lock (relays starting together do not
  race) and carries its version in `ldsentry_relay_schema`, for later migrations.
- Pruning deletes a few thousand ids per transaction.

psycopg 3 and its pool (the `relay` extra) are imported by this module only; the password comes
from PGPASSWORD, ~/.pgpass or a libpq service file, never from the URL (`ldsentry validate` refuses one).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from ld_sentry_cli.relay import spool_rows
from ld_sentry_cli.relay.model import Batch, BatchEvent, DeadLetter, Destination, ParkedEvent, SpoolEntry, SpoolStats
from ld_sentry_cli.relay.spool import PRUNE_CHUNK, RESPONSE_LIMIT, DuePlan, SpoolError, SpoolUnavailable

logger = logging.getLogger("ldsentry.relay.spool")

SCHEMA_VERSION = 1
LEASE_S = 60.0  # longer than one import request may take (15 s timeout, 5 s to connect)
CONNECT_TIMEOUT_S = 5.0
# Connections per relay: intake's group commits, the forwarder's claims and answers, a status query.
POOL_SIZE = 4
_SCHEMA_LOCK = 0x6C64_7365_6E74_7279  # pg_advisory_xact_lock key of schema creation ("ldsentry")
_REPLICA_RETENTION_S = 24 * 3600

_SCHEMA = (
    "CREATE TABLE ldsentry_relay_schema (version integer NOT NULL)",
    """CREATE TABLE ldsentry_relay_destinations (
        id serial PRIMARY KEY,
        ld_project text NOT NULL,
        ld_environment text NOT NULL,
        delivered bigint NOT NULL DEFAULT 0,
        UNIQUE (ld_project, ld_environment))""",
    # No foreign key on destination: every insert would take a share lock on the destination's row,
    # and the relays' concurrent inserts would contend for it.
    """CREATE TABLE ldsentry_relay_events (
        seq bigserial PRIMARY KEY,
        event_id text NOT NULL UNIQUE,
        state text NOT NULL,
        destination integer,
        batch_id text,
        payload text,
        received_at double precision NOT NULL,
        done_at double precision,
        sentry_project_id text,
        sentry_environment text)""",
    "CREATE INDEX ldsentry_relay_events_queued ON ldsentry_relay_events (destination, seq) WHERE state = 'queued'",
    "CREATE INDEX ldsentry_relay_events_sending ON ldsentry_relay_events (destination) WHERE state = 'sending'",
    "CREATE INDEX ldsentry_relay_events_batch ON ldsentry_relay_events (batch_id, seq) WHERE batch_id IS NOT NULL",
    "CREATE INDEX ldsentry_relay_events_dead ON ldsentry_relay_events (destination) WHERE state = 'dead'",
    "CREATE INDEX ldsentry_relay_events_unresolved ON ldsentry_relay_events (seq) WHERE state = 'unresolved'",
    "CREATE INDEX ldsentry_relay_events_done ON ldsentry_relay_events (done_at) "
    "WHERE state IN ('delivered', 'skipped')",
    """CREATE TABLE ldsentry_relay_batches (
        batch_id text PRIMARY KEY,
        destination integer NOT NULL UNIQUE REFERENCES ldsentry_relay_destinations (id),
        created_at double precision NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at double precision NOT NULL,
        last_error text,
        lease_owner text,
        lease_until double precision)""",
    """CREATE TABLE ldsentry_relay_dead_letters (
        batch_id text PRIMARY KEY,
        destination integer NOT NULL REFERENCES ldsentry_relay_destinations (id),
        events integer NOT NULL,
        status integer,
        response text NOT NULL,
        failed_at double precision NOT NULL)""",
    # Each relay's readiness probe writes its row here: a real write, and a list of who is up.
    "CREATE TABLE ldsentry_relay_replicas (replica text PRIMARY KEY, checked_at double precision NOT NULL)",
)

_INSERT = (
    f"INSERT INTO ldsentry_relay_events ({', '.join(spool_rows.EVENT_COLUMNS)}) "  # noqa: S608 (constants only)
    "SELECT * FROM unnest(%s::text[], %s::text[], %s::integer[], %s::text[], %s::double precision[], "
    "%s::text[], %s::text[]) ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
)
_DUE = """
SELECT d.id, b.next_attempt_at, b.lease_owner, b.lease_until,
    (SELECT e.received_at FROM ldsentry_relay_events e
        WHERE e.destination = d.id AND e.state = 'queued' ORDER BY e.seq LIMIT 1),
    (SELECT count(*) FROM (SELECT 1 FROM ldsentry_relay_events e
        WHERE e.destination = d.id AND e.state = 'queued' ORDER BY e.seq LIMIT %s) AS q)
FROM ldsentry_relay_destinations d LEFT JOIN ldsentry_relay_batches b ON b.destination = d.id
"""
# What delivered() and dead_letter() make of a batch's events (parameters: now, batch_id).
_MARK_DELIVERED = (
    "UPDATE ldsentry_relay_events SET state = 'delivered', payload = NULL, batch_id = NULL, done_at = %s "
    "WHERE batch_id = %s AND state = 'sending'"
)
_MARK_DEAD = "UPDATE ldsentry_relay_events SET state = 'dead', done_at = %s WHERE batch_id = %s AND state = 'sending'"
_STATS = """
SELECT d.ld_project, d.ld_environment, d.delivered,
    (SELECT count(*) FROM ldsentry_relay_events e WHERE e.destination = d.id AND e.state = 'queued'),
    (SELECT min(e.received_at) FROM ldsentry_relay_events e WHERE e.destination = d.id AND e.state = 'queued'),
    (SELECT count(*) FROM ldsentry_relay_events e WHERE e.destination = d.id AND e.state = 'sending'),
    (SELECT min(e.received_at) FROM ldsentry_relay_events e WHERE e.destination = d.id AND e.state = 'sending'),
    (SELECT count(*) FROM ldsentry_relay_events e WHERE e.destination = d.id AND e.state = 'dead'),
    b.attempts, b.next_attempt_at, b.last_error
FROM ldsentry_relay_destinations d LEFT JOIN ldsentry_relay_batches b ON b.destination = d.id
ORDER BY d.id
"""


class PostgresSpool:
    """The shared spool (see the module docstring); every method may run on any thread (a connection pool)."""

    def __init__(
        self,
        url: str,
        *,
        create: bool = True,
        lease: float = LEASE_S,
        connect_timeout: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self.location = url
        self.thread_safe = True  # a connection pool
        self.lease = lease
        self.owner = uuid.uuid4().hex  # this process, in leases and in the replicas table
        self._known = spool_rows.DestinationIds()
        hint = (
            "Check the URL (postgresql://USER@HOST:PORT/DB), that the server runs, and the password in "
            "PGPASSWORD, ~/.pgpass or a service file."
        )
        try:
            # One plain connection first: it reports why a connection fails, where the pool only times out.
            with psycopg.connect(url, autocommit=True, connect_timeout=max(1, round(connect_timeout))) as conn:
                self._prepare_schema(conn, create)
        except psycopg.Error as err:
            raise SpoolError(f"Cannot use the PostgreSQL spool {url}: {_first_line(err)}.", hint) from None
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=POOL_SIZE,
            kwargs={"autocommit": True, "connect_timeout": max(1, round(connect_timeout))},
            timeout=connect_timeout,
            open=False,
            name="ldsentry-relay",
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
            with self._pool.connection() as conn:
                self._load_destinations(conn)
        except (psycopg.Error, PoolTimeout) as err:
            self._pool.close()
            raise SpoolError(f"Cannot use the PostgreSQL spool {url}: {_first_line(err)}.", hint) from None

    def _prepare_schema(self, conn: psycopg.Connection[Any], create: bool) -> None:
        with conn.transaction():
            if create:
                # Relays starting together: one creates the schema, the others wait, then find it.
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            exists = conn.execute("SELECT to_regclass('ldsentry_relay_schema') IS NOT NULL").fetchone()
            version = None
            if exists and exists[0]:
                row = conn.execute("SELECT max(version) FROM ldsentry_relay_schema").fetchone()
                version = row[0] if row else None
            if version is not None and version > SCHEMA_VERSION:
                raise SpoolError(
                    f"The PostgreSQL spool {self.location} has schema version {version}, newer than this "
                    "ldsentry understands.",
                    "Upgrade ldsentry on this machine to the version the other relays run.",
                )
            if version == SCHEMA_VERSION:
                return
            if not create:
                raise SpoolError(
                    f"No ldsentry relay spool in {self.location}.",
                    "Pass --spool with the URL `ldsentry relay serve` uses, or set [relay] spool.",
                )
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute("INSERT INTO ldsentry_relay_schema (version) VALUES (%s)", (SCHEMA_VERSION,))
            logger.info("created the relay's tables (schema version %d) in %s", SCHEMA_VERSION, self.location)

    def _load_destinations(self, conn: psycopg.Connection[Any]) -> None:
        self._known.load(conn.execute("SELECT id, ld_project, ld_environment FROM ldsentry_relay_destinations"))

    @staticmethod
    def _find_destination(conn: psycopg.Connection[Any], destination: Destination) -> int | None:
        """The destination's row id in the database, None if no relay has added it."""
        row = conn.execute(
            "SELECT id FROM ldsentry_relay_destinations WHERE ld_project = %s AND ld_environment = %s",
            (destination.ld_project, destination.ld_environment),
        ).fetchone()
        return None if row is None else int(row[0])

    def _destination_id(self, conn: psycopg.Connection[Any], destination: Destination) -> int:
        ident = self._known.id_of(destination)
        if ident is None:
            conn.execute(
                "INSERT INTO ldsentry_relay_destinations (ld_project, ld_environment) VALUES (%s, %s) "
                "ON CONFLICT DO NOTHING",
                (destination.ld_project, destination.ld_environment),
            )
            ident = self._find_destination(conn, destination)
            assert ident is not None  # inserted or already there, and never deleted
            self._known.remember(ident, destination)
        return ident

    def add(self, entries: Sequence[SpoolEntry]) -> list[bool]:
        """Store entries in one statement; True for each new event id, False for a duplicate."""
        with self._pool.connection() as conn:
            rows = [
                spool_rows.event_row(e, None if e.destination is None else self._destination_id(conn, e.destination))
                for e in spool_rows.first_of_each(entries)
            ]
            columns = tuple(
                [row[index] for row in rows] for index in range(len(spool_rows.EVENT_COLUMNS))
            )  # one array each
            new = {row[0] for row in conn.execute(_INSERT, columns).fetchall()}
        return spool_rows.verdicts(entries, new)

    def seen(self, event_ids: Sequence[str]) -> set[str]:
        """The ids among event_ids that the spool holds or held (within the retention)."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT event_id FROM ldsentry_relay_events WHERE event_id = ANY(%s)", (list(event_ids),)
            ).fetchall()
        return {row[0] for row in rows}

    def due(self, now: float, batch_size: int, flush_interval: float, flush_all: bool = False) -> DuePlan:
        """Destinations whose next batch is due (by any relay), and when the next one falls due."""
        with self._pool.connection() as conn:
            rows = conn.execute(_DUE, (batch_size,)).fetchall()
            if any(row[0] not in self._known for row in rows):
                self._known.clear()
                self._load_destinations(conn)
        return spool_rows.plan_due(
            now,
            (
                (self._known[row[0]], self._due_at(row, now, batch_size, flush_interval, flush_all))
                for row in sorted(rows)
            ),
        )

    def _due_at(
        self, row: Sequence[Any], now: float, batch_size: int, flush_interval: float, flush_all: bool
    ) -> float | None:
        """When a destination's next batch is due, from its _DUE row (None: nothing to send)."""
        _, next_attempt_at, owner, lease_until, first_at, count = row
        if next_attempt_at is not None:
            return self._open_batch_due_at(next_attempt_at, owner, lease_until)
        if first_at is None:
            return None
        return spool_rows.queued_due_at(
            now, float(first_at), count, batch_size=batch_size, flush_interval=flush_interval, flush_all=flush_all
        )

    def _open_batch_due_at(self, next_attempt_at: float, owner: str | None, lease_until: float | None) -> float:
        """When an open batch may be sent: its next attempt, or later while another relay's lease on it runs."""
        if owner is not None and owner != self.owner and lease_until is not None:
            return max(float(next_attempt_at), float(lease_until))  # another relay is sending it
        return float(next_attempt_at)

    def claim(
        self, destination: Destination, now: float, batch_size: int, flush_interval: float, flush_all: bool = False
    ) -> Batch | None:
        """The destination's batch for this relay to send now, under a lease; None if none is due or another has it."""
        with self._pool.connection() as conn, conn.transaction():
            ident = self._known.id_of(destination)
            if ident is None:  # added by another relay since this one looked
                ident = self._find_destination(conn, destination)
                if ident is None:
                    return None
            # Serialises the relays' claims per destination; NO KEY UPDATE leaves inserts and readers alone.
            locked = conn.execute(
                "SELECT id FROM ldsentry_relay_destinations WHERE id = %s FOR NO KEY UPDATE SKIP LOCKED", (ident,)
            ).fetchone()
            if locked is None:
                return None
            open_batch = conn.execute(
                "SELECT batch_id, attempts, next_attempt_at, lease_owner, lease_until FROM ldsentry_relay_batches "
                "WHERE destination = %s",
                (ident,),
            ).fetchone()
            if open_batch is not None:
                batch_id, attempts, next_attempt_at, owner, lease_until = open_batch
                if self._open_batch_due_at(next_attempt_at, owner, lease_until) > now:
                    return None  # not yet, or another relay's lease on it still runs
                rows = conn.execute(
                    "SELECT event_id, payload, received_at FROM ldsentry_relay_events "
                    "WHERE batch_id = %s AND state = 'sending' ORDER BY seq",
                    (batch_id,),
                ).fetchall()
                if rows:
                    conn.execute(
                        "UPDATE ldsentry_relay_batches SET lease_owner = %s, lease_until = %s WHERE batch_id = %s",
                        (self.owner, now + self.lease, batch_id),
                    )
                    if owner is not None and owner != self.owner:
                        logger.warning(
                            "took over batch %s (%d events to %s): the relay sending it stopped renewing its lease",
                            batch_id,
                            len(rows),
                            destination.label,
                        )
                    return Batch(batch_id, destination, int(attempts), tuple(BatchEvent(*row) for row in rows))
                # Emptied by hand (retry-dead-letters, a prune): forget it.
                conn.execute("DELETE FROM ldsentry_relay_batches WHERE batch_id = %s", (batch_id,))
            rows = conn.execute(
                "SELECT seq, event_id, payload, received_at FROM ldsentry_relay_events "
                "WHERE destination = %s AND state = 'queued' ORDER BY seq LIMIT %s",
                (ident, batch_size),
            ).fetchall()
            if not rows:
                return None
            due_at = spool_rows.queued_due_at(
                now,
                float(rows[0][3]),
                len(rows),
                batch_size=batch_size,
                flush_interval=flush_interval,
                flush_all=flush_all,
            )
            if due_at > now:
                return None
            batch_id = str(uuid.uuid4())
            conn.execute(
                "INSERT INTO ldsentry_relay_batches "
                "(batch_id, destination, created_at, next_attempt_at, lease_owner, lease_until) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (batch_id, ident, now, now, self.owner, now + self.lease),
            )
            conn.execute(
                "UPDATE ldsentry_relay_events SET state = 'sending', batch_id = %s WHERE seq = ANY(%s)",
                (batch_id, [row[0] for row in rows]),
            )
        return Batch(batch_id, destination, 0, tuple(BatchEvent(*row[1:]) for row in rows))

    def _lock_destination_of(self, conn: psycopg.Connection[Any], batch_id: str) -> None:
        """Lock the batch's destination row first, in the order claim() takes locks, so the two cannot deadlock."""
        conn.execute(
            "SELECT d.id FROM ldsentry_relay_destinations d JOIN ldsentry_relay_batches b ON b.destination = d.id "
            "WHERE b.batch_id = %s FOR NO KEY UPDATE OF d",
            (batch_id,),
        )

    def _finish(
        self, conn: psycopg.Connection[Any], batch_id: str, mark_events: str, now: float
    ) -> tuple[int, int | None]:
        """Close a batch: mark its events (mark_events, given now and batch_id) and delete it.

        Returns the event count and the batch's destination id (None when another relay closed it first).
        """
        self._lock_destination_of(conn, batch_id)
        count = conn.execute(mark_events, (now, batch_id)).rowcount
        row = conn.execute(
            "DELETE FROM ldsentry_relay_batches WHERE batch_id = %s RETURNING destination", (batch_id,)
        ).fetchone()
        return count, None if row is None else int(row[0])

    def delivered(self, batch_id: str, now: float) -> int:
        """Mark a batch delivered; return its event count (0 when another relay recorded it first)."""
        with self._pool.connection() as conn, conn.transaction():
            count, ident = self._finish(conn, batch_id, _MARK_DELIVERED, now)
            if ident is not None and count:
                conn.execute(
                    "UPDATE ldsentry_relay_destinations SET delivered = delivered + %s WHERE id = %s", (count, ident)
                )
        return count

    def retry_later(self, batch_id: str, attempts: int, next_attempt_at: float, error: str) -> None:
        """Record a failed attempt and release the lease: any relay sends the same batch at next_attempt_at."""
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE ldsentry_relay_batches SET attempts = %s, next_attempt_at = %s, last_error = %s, "
                "lease_owner = NULL, lease_until = NULL "
                "WHERE batch_id = %s AND (lease_owner = %s OR lease_owner IS NULL)",
                (attempts, next_attempt_at, error[:RESPONSE_LIMIT], batch_id, self.owner),
            )

    def dead_letter(self, batch_id: str, status: int | None, response: str, now: float) -> int:
        """Move a batch to the dead letters with LaunchDarkly's answer; return its event count."""
        with self._pool.connection() as conn, conn.transaction():
            count, ident = self._finish(conn, batch_id, _MARK_DEAD, now)
            if ident is not None:
                conn.execute(
                    "INSERT INTO ldsentry_relay_dead_letters (batch_id, destination, events, status, response, "
                    "failed_at) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (batch_id) DO UPDATE SET "
                    "events = EXCLUDED.events, status = EXCLUDED.status, response = EXCLUDED.response, "
                    "failed_at = EXCLUDED.failed_at",
                    (batch_id, ident, count, status, response[:RESPONSE_LIMIT], now),
                )
        return count

    def requeue_dead_letters(self) -> int:
        """Put every dead-lettered event back in its queue; return how many."""
        with self._pool.connection() as conn, conn.transaction():
            count = conn.execute(
                "UPDATE ldsentry_relay_events SET state = 'queued', batch_id = NULL, done_at = NULL "
                "WHERE state = 'dead'"
            ).rowcount
            conn.execute("DELETE FROM ldsentry_relay_dead_letters")
        return count

    def parked(self, limit: int) -> list[ParkedEvent]:
        """Events waiting for their Sentry project to be resolved, oldest first."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT event_id, sentry_project_id, sentry_environment FROM ldsentry_relay_events "
                "WHERE state = 'unresolved' ORDER BY seq LIMIT %s",
                (limit,),
            ).fetchall()
        return spool_rows.parked_events(rows)

    def resolve(self, assignments: Mapping[str, Destination | None], now: float) -> None:
        """Queue parked events for their destination, or drop them (None: unmapped) keeping the id."""
        with self._pool.connection() as conn:
            idents = {d: self._destination_id(conn, d) for d in set(assignments.values()) if d is not None}
            with conn.transaction():
                for event_id, destination in assignments.items():
                    if destination is None:
                        conn.execute(
                            "UPDATE ldsentry_relay_events SET state = 'skipped', payload = NULL, done_at = %s "
                            "WHERE event_id = %s AND state = 'unresolved'",
                            (now, event_id),
                        )
                    else:
                        conn.execute(
                            "UPDATE ldsentry_relay_events SET state = 'queued', destination = %s "
                            "WHERE event_id = %s AND state = 'unresolved'",
                            (idents[destination], event_id),
                        )

    def prune(self, before: float, limit: int = PRUNE_CHUNK) -> int:
        """Forget at most limit delivered and skipped ids older than before; return how many."""
        with self._pool.connection() as conn:
            conn.execute("DELETE FROM ldsentry_relay_replicas WHERE checked_at < %s", (before - _REPLICA_RETENTION_S,))
            return conn.execute(
                "DELETE FROM ldsentry_relay_events WHERE seq IN (SELECT seq FROM ldsentry_relay_events "
                "WHERE state IN ('delivered', 'skipped') AND done_at < %s LIMIT %s)",
                (before, limit),
            ).rowcount

    def stats(self) -> SpoolStats:
        """Counts per destination, as every relay sees them."""
        with self._pool.connection() as conn:
            rows = conn.execute(_STATS).fetchall()
            unresolved = conn.execute(
                "SELECT count(*), min(received_at) FROM ldsentry_relay_events WHERE state = 'unresolved'"
            ).fetchone()
        return spool_rows.spool_stats(rows, unresolved)

    def dead_letters(self) -> list[DeadLetter]:
        """The dead-lettered batches, oldest first."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT d.batch_id, t.ld_project, t.ld_environment, d.events, d.status, d.response, d.failed_at "
                "FROM ldsentry_relay_dead_letters AS d JOIN ldsentry_relay_destinations AS t ON t.id = d.destination "
                "ORDER BY d.failed_at"
            ).fetchall()
        return spool_rows.dead_letters_of(rows)

    def check_writable(self) -> None:
        """Raise SpoolUnavailable unless a real write (this relay's row in the replicas table) commits now."""
        try:
            with self._pool.connection() as conn:
                conn.execute(
                    "INSERT INTO ldsentry_relay_replicas (replica, checked_at) VALUES (%s, extract(epoch FROM now())) "
                    "ON CONFLICT (replica) DO UPDATE SET checked_at = EXCLUDED.checked_at",
                    (self.owner,),
                )
        except (psycopg.Error, PoolTimeout) as err:
            raise SpoolUnavailable(f"the PostgreSQL spool cannot be written: {_first_line(err)}") from None

    def checkpoint(self) -> None:
        """Nothing to do: PostgreSQL checkpoints by itself."""

    def close(self) -> None:
        """Close the connection pool."""
        self._pool.close()


def _first_line(err: BaseException) -> str:
    """libpq's message without its detail lines (which may quote the connection string's host)."""
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0].rstrip(".")
