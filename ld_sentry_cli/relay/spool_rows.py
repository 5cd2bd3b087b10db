"""What both spools make of their rows: verdicts, records, due times, the destination ids they cache.

The SQLite and the PostgreSQL spool keep the same tables and states; each keeps its own SQL
dialect, transactions and locking, and turns the rows its queries return into the relay's records
here, so the two cannot drift apart in what a row means.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ld_sentry_cli.relay.model import (
    DeadLetter,
    Destination,
    DestinationStats,
    ParkedEvent,
    SpoolEntry,
    SpoolStats,
)
from ld_sentry_cli.relay.spool import DuePlan

# The events columns an accepted entry fills, in the order of event_row().
EVENT_COLUMNS = (
    "event_id",
    "state",
    "destination",
    "payload",
    "received_at",
    "sentry_project_id",
    "sentry_environment",
)


class DestinationIds:
    """The destinations' row ids, cached both ways (a destination's row is never deleted)."""

    def __init__(self) -> None:
        self._ids: dict[Destination, int] = {}
        self._destinations: dict[int, Destination] = {}

    def load(self, rows: Iterable[Sequence[Any]]) -> None:
        """Remember (id, ld_project, ld_environment) rows."""
        for ident, project, environment in rows:
            self.remember(ident, Destination(project, environment))

    def remember(self, ident: int, destination: Destination) -> None:
        """Remember one destination's row id."""
        self._ids[destination] = ident
        self._destinations[ident] = destination

    def clear(self) -> None:
        """Forget every id (a rolled-back transaction may have cached some)."""
        self._ids.clear()
        self._destinations.clear()

    def id_of(self, destination: Destination) -> int | None:
        """The destination's row id, None if not known (yet)."""
        return self._ids.get(destination)

    def __getitem__(self, ident: int) -> Destination:
        return self._destinations[ident]

    def __contains__(self, ident: object) -> bool:
        return ident in self._destinations

    def by_id(self) -> list[tuple[int, Destination]]:
        """Every known (id, destination), in the order the destinations were created."""
        return sorted(self._destinations.items())


def first_of_each(entries: Sequence[SpoolEntry]) -> list[SpoolEntry]:
    """The entries to insert: a group may hold the same id twice, and the first one wins."""
    first: dict[str, SpoolEntry] = {}
    for entry in entries:
        first.setdefault(entry.event_id, entry)
    return list(first.values())


def event_row(entry: SpoolEntry, destination_id: int | None) -> tuple[Any, ...]:
    """The entry's values for EVENT_COLUMNS: queued for its destination, or parked (unresolved) without one."""
    state = "queued" if destination_id is not None else "unresolved"
    return (
        entry.event_id,
        state,
        destination_id,
        entry.payload,
        entry.received_at,
        entry.sentry_project_id,
        entry.sentry_environment,
    )


def verdicts(entries: Sequence[SpoolEntry], inserted: set[str]) -> list[bool]:
    """True for the first entry of each id the store inserted; False for a duplicate (held before, or in the group)."""
    answered: set[str] = set()
    result = []
    for entry in entries:
        result.append(entry.event_id in inserted and entry.event_id not in answered)
        answered.add(entry.event_id)
    return result


def queued_due_at(
    now: float, first_at: float, queued: int, *, batch_size: int, flush_interval: float, flush_all: bool
) -> float:
    """When queued events make a batch due: now when full (or flushing all), else flush_interval after the oldest."""
    return now if flush_all or queued >= batch_size else first_at + flush_interval


def plan_due(now: float, due_times: Iterable[tuple[Destination, float | None]]) -> DuePlan:
    """The destinations due by now, and the earliest due time after now (None: nothing to send)."""
    ready: list[Destination] = []
    next_due: float | None = None
    for destination, due_at in due_times:
        if due_at is None:
            continue
        if due_at <= now:
            ready.append(destination)
        else:
            next_due = due_at if next_due is None else min(next_due, due_at)
    return DuePlan(tuple(ready), next_due)


def parked_events(rows: Iterable[Sequence[Any]]) -> list[ParkedEvent]:
    """Parked events from (event_id, sentry_project_id, sentry_environment) rows."""
    return [ParkedEvent(row[0], row[1] or "", row[2] or "") for row in rows]


def dead_letters_of(rows: Iterable[Sequence[Any]]) -> list[DeadLetter]:
    """Dead letters from (batch_id, ld_project, ld_environment, events, status, response, failed_at) rows."""
    return [DeadLetter(row[0], Destination(row[1], row[2]), int(row[3]), row[4], row[5], float(row[6])) for row in rows]


def spool_stats(destinations: Iterable[Sequence[Any]], unresolved: Sequence[Any] | None) -> SpoolStats:
    """The spool's counts from one row per destination and the (count, oldest) of parked events.

    A destination's row: ld_project, ld_environment, delivered, queued, oldest queued, sending,
    oldest sending, dead, then its open batch's attempts, next_attempt_at and last_error (None
    without one).
    """
    rows = []
    for (
        project,
        environment,
        delivered,
        queued,
        oldest,
        sending,
        oldest_sending,
        dead,
        attempts,
        at,
        error,
    ) in destinations:
        times = [t for t in (oldest, oldest_sending) if t is not None]
        rows.append(
            DestinationStats(
                destination=Destination(project, environment),
                queued=int(queued) + int(sending),
                delivered=int(delivered),
                dead_lettered=int(dead),
                oldest_queued_at=min(times) if times else None,
                attempts=int(attempts or 0),
                next_attempt_at=at if attempts else None,
                last_error=error,
            )
        )
    count, oldest_unresolved = unresolved if unresolved is not None else (0, None)
    return SpoolStats(tuple(rows), int(count), oldest_unresolved)
