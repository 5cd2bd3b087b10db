"""The spool: where accepted events wait, durably, until LaunchDarkly acknowledges them.

`Spool` is the interface the relay needs. Two stores implement it: `SqliteSpool`
(spool_sqlite.py, embedded, the default, for one relay) and `PostgresSpool` (spool_postgres.py,
shared by several relays behind a load balancer); spools.py picks one from `--spool`. Each keeps
its own SQL and locking; spool_rows.py turns the rows of both into the same records.

Life of an event (column `state`):

    queued ──claim──▶ sending ──2xx──▶ delivered (payload dropped; the id stays for dedupe)
       ▲                 │ 429/5xx/network: same batch, same payload id, later
       │                 └─other 4xx──▶ dead ──retry-dead-letters──▶ queued
    unresolved ──project known──▶ queued, or skipped (unmapped)

Every method except `stats`, `dead_letters` and `checkpoint` is called from one thread at a time
(the relay's spool thread); those three may run on any thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ld_sentry_cli.errors import UsageError
from ld_sentry_cli.relay.model import Batch, DeadLetter, Destination, ParkedEvent, SpoolEntry, SpoolStats

# How long delivered and skipped event ids are kept to recognise duplicates. Sentry retries a
# webhook for about 15 minutes (3 tries, 5 minutes apart; sentry-api.md §7), and `relay backfill`
# reads back 6 hours by default, so a week covers both with room to spare.
SEEN_RETENTION_S = 7 * 24 * 3600
# Ids forgotten per prune call: each call is its own short transaction, so intake never waits long
# behind a prune of millions of old ids (issue 13: one 3.6 M-row delete stalled intake 3.9 s).
PRUNE_CHUNK = 5000
RESPONSE_LIMIT = 2000  # characters of LaunchDarkly's answer kept with a dead letter or a retry


@dataclass(frozen=True)
class DuePlan:
    """Destinations with a batch to send now, and when the next one falls due (None: nothing waits)."""

    ready: tuple[Destination, ...]
    next_due_at: float | None


class Spool(Protocol):
    """What the relay needs from a durable queue with deduplication by Sentry event id."""

    location: str  # the file or URL, for messages (never with a password)
    thread_safe: bool  # True: any method may run on any thread (PostgreSQL); False: only the spool thread

    def add(self, entries: Sequence[SpoolEntry]) -> list[bool]:
        """Store entries in one transaction; True for each new event id, False for a duplicate."""

    def seen(self, event_ids: Sequence[str]) -> set[str]:
        """The ids among event_ids that the spool holds or held (within the retention)."""

    def due(self, now: float, batch_size: int, flush_interval: float, flush_all: bool = False) -> DuePlan:
        """Destinations whose next batch is due: a full batch, an old enough partial one, or a retry whose time came."""

    def claim(
        self, destination: Destination, now: float, batch_size: int, flush_interval: float, flush_all: bool = False
    ) -> Batch | None:
        """The batch to send now: the unfinished one (same id) first, else a new one; None if none is due."""

    def delivered(self, batch_id: str, now: float) -> int:
        """Mark a batch delivered (LaunchDarkly answered 2xx); return its event count."""

    def retry_later(self, batch_id: str, attempts: int, next_attempt_at: float, error: str) -> None:
        """Record a failed attempt; the same batch is sent again at next_attempt_at."""

    def dead_letter(self, batch_id: str, status: int | None, response: str, now: float) -> int:
        """Move a batch to the dead letters with LaunchDarkly's answer; return its event count."""

    def requeue_dead_letters(self) -> int:
        """Put every dead-lettered event back in its queue (in its original order); return how many."""

    def parked(self, limit: int) -> list[ParkedEvent]:
        """Events waiting for their Sentry project to be resolved, oldest first."""

    def resolve(self, assignments: Mapping[str, Destination | None], now: float) -> None:
        """Queue parked events for their destination, or drop them (None: unmapped) keeping the id."""

    def prune(self, before: float, limit: int = PRUNE_CHUNK) -> int:
        """Forget at most limit delivered and skipped ids older than before; return how many."""

    def stats(self) -> SpoolStats:
        """Counts per destination (callable from any thread)."""

    def dead_letters(self) -> list[DeadLetter]:
        """The dead-lettered batches, oldest first (callable from any thread)."""

    def check_writable(self) -> None:
        """Raise SpoolUnavailable unless a real write to the spool succeeds now."""

    def checkpoint(self) -> None:
        """Periodic upkeep that must not stall the writer (SQLite: the WAL checkpoint); any thread."""

    def close(self) -> None:
        """Release the store."""


class SpoolError(UsageError):
    """The spool cannot be opened, is not an ldsentry spool, or is in use by another relay (exit 2)."""


class SpoolUnavailable(Exception):
    """The open spool cannot take writes now (deleted, replaced, read-only, disk full, database down)."""
